// An ISA interrupt line as a PC wires it: to the 8259 pair and, in
// parallel, to an IOAPIC pin. Whichever controller the guest unmasks gets
// the interrupt.
#pragma once

#include "devices/ioapic.h"
#include "devices/pic8259.h"
#include "irq/interrupt_line.h"

namespace ember {

class IsaIrq final : public InterruptLine {
 public:
  IsaIrq(Pic8259Pair& pic, unsigned irq, Ioapic& ioapic, unsigned pin) : pic_{pic}, irq_{irq}, ioapic_{ioapic}, pin_{pin} {}
  void set_level(bool asserted) override {
    pic_.set_irq(irq_, asserted);
    ioapic_.set_pin(pin_, asserted);
  }

 private:
  Pic8259Pair& pic_;
  unsigned     irq_;
  Ioapic&      ioapic_;
  unsigned     pin_;
};

}  // namespace ember
