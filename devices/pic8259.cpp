#include "devices/pic8259.h"

#include "base/log.h"

namespace ember {
namespace {

constexpr unsigned kMaster = 0, kSlave = 1, kCascadeIrq = 2;

}  // namespace

// Priority of `irq` in the chip's current rotation: 0 is highest.
int Pic8259Pair::priority(const Chip& chip, unsigned irq) { return static_cast<int>((irq - chip.lowest_priority - 1) & 7); }

int Pic8259Pair::highest_request(const Chip& chip) {
  const uint8_t pending = chip.irr & static_cast<uint8_t>(~chip.imr);
  int best = -1;
  for (unsigned irq = 0; irq < 8; ++irq) {
    if ((pending >> irq) & 1 && (best < 0 || priority(chip, irq) < priority(chip, static_cast<unsigned>(best)))) best = static_cast<int>(irq);
  }
  return best;
}

int Pic8259Pair::highest_in_service(const Chip& chip) {
  // In special mask mode masked levels do not block lower ones (8259A, OCW3).
  const uint8_t in_service = chip.special_mask ? chip.isr & static_cast<uint8_t>(~chip.imr) : chip.isr;
  int best = -1;
  for (unsigned irq = 0; irq < 8; ++irq) {
    if ((in_service >> irq) & 1 && (best < 0 || priority(chip, irq) < priority(chip, static_cast<unsigned>(best)))) best = static_cast<int>(irq);
  }
  return best;
}

void Pic8259Pair::set_input(Chip& chip, unsigned irq, bool level) {
  const uint8_t bit = static_cast<uint8_t>(1u << irq);
  const bool was = chip.input & bit;
  if (level) chip.input |= bit;
  else chip.input &= static_cast<uint8_t>(~bit);
  if (chip.elcr & bit) {
    // Level-sensitive: the request follows the line.
    if (level) chip.irr |= bit;
    else chip.irr &= static_cast<uint8_t>(~bit);
  } else if (level && !was) {
    chip.irr |= bit;  // edge-triggered: a rising edge latches a request
  }
}

bool Pic8259Pair::output() const {
  const Chip& master = chips_[kMaster];
  const int request = highest_request(master);
  if (request < 0) return false;
  const int in_service = highest_in_service(master);
  return in_service < 0 || priority(master, static_cast<unsigned>(request)) < priority(master, static_cast<unsigned>(in_service));
}

void Pic8259Pair::update_cascade() {
  const Chip& slave = chips_[kSlave];
  const int request = highest_request(slave);
  const int in_service = highest_in_service(slave);
  const bool slave_int = request >= 0 && (in_service < 0 || priority(slave, static_cast<unsigned>(request)) <
                                                                  priority(slave, static_cast<unsigned>(in_service)));
  set_input(chips_[kMaster], kCascadeIrq, slave_int);
}

void Pic8259Pair::set_irq(unsigned irq, bool level) {
  if (irq >= 16) return;
  bool raise = false;
  {
    std::lock_guard lock{mutex_};
    const bool before = output();
    set_input(chips_[irq / 8], irq % 8, level);
    update_cascade();
    raise = output() && !before;
  }
  if (raise && cpu_ != nullptr) cpu_->kick();
}

bool Pic8259Pair::interrupt_pending() {
  std::lock_guard lock{mutex_};
  return output();
}

uint8_t Pic8259Pair::acknowledge_chip(Chip& chip, unsigned irq) {
  const uint8_t bit = static_cast<uint8_t>(1u << irq);
  if (!(chip.elcr & bit)) chip.irr &= static_cast<uint8_t>(~bit);  // an edge request is consumed
  if (chip.auto_eoi) {
    if (chip.rotate_on_auto_eoi) chip.lowest_priority = static_cast<uint8_t>(irq);
  } else {
    chip.isr |= bit;
  }
  return static_cast<uint8_t>(chip.vector_base + irq);
}

std::optional<uint8_t> Pic8259Pair::acknowledge() {
  std::lock_guard lock{mutex_};
  if (!output()) return std::nullopt;
  Chip& master = chips_[kMaster];
  const auto irq = static_cast<unsigned>(highest_request(master));
  if (irq == kCascadeIrq && !master.single) {
    Chip& slave = chips_[kSlave];
    const int slave_irq = highest_request(slave);
    acknowledge_chip(master, irq);
    // A request that vanished between INT and INTA reads as IRQ 7: the
    // 8259A's spurious interrupt.
    const uint8_t vector = acknowledge_chip(slave, slave_irq < 0 ? 7 : static_cast<unsigned>(slave_irq));
    update_cascade();
    return vector;
  }
  const uint8_t vector = acknowledge_chip(master, irq);
  update_cascade();
  return vector;
}

void Pic8259Pair::end_of_interrupt(Chip& chip, int irq, bool rotate) {
  if (irq < 0) return;
  chip.isr &= static_cast<uint8_t>(~(1u << irq));
  if (rotate) chip.lowest_priority = static_cast<uint8_t>(irq);
}

void Pic8259Pair::write_command(Chip& chip, uint8_t value) {
  if (value & 0x10) {
    // ICW1: start initialisation (8259A, "Initialization Command Words").
    const uint8_t elcr = chip.elcr;
    chip = Chip{};
    chip.imr = 0;
    chip.elcr = elcr;
    chip.needs_icw4 = value & 1;
    chip.single = value & 2;
    if (value & 8) EMBER_GUEST_WARNING("pic8259: level-triggered mode by ICW1 is not supported; use ELCR");
    chip.init_step = 2;
    return;
  }
  if ((value & 0x18) == 0x08) {
    // OCW3: register read select, poll, special mask.
    if (value & 2) chip.read_isr = value & 1;
    chip.poll = value & 4;
    if (value & 0x40) chip.special_mask = value & 0x20;
    return;
  }
  // OCW2: end of interrupt and priority rotation.
  const uint8_t command = value >> 5;
  switch (command) {
    case 1: end_of_interrupt(chip, highest_in_service(chip), false); break;  // non-specific EOI
    case 3: end_of_interrupt(chip, value & 7, false); break;                 // specific EOI
    case 5: end_of_interrupt(chip, highest_in_service(chip), true); break;   // rotate on non-specific EOI
    case 7: end_of_interrupt(chip, value & 7, true); break;                  // rotate on specific EOI
    case 4: chip.rotate_on_auto_eoi = true; break;
    case 0: chip.rotate_on_auto_eoi = false; break;
    case 6: chip.lowest_priority = value & 7; break;                         // set priority
    default: break;                                                          // 2: no operation
  }
}

void Pic8259Pair::write_data(Chip& chip, uint8_t value) {
  switch (chip.init_step) {
    case 2:
      chip.vector_base = value & 0xf8;
      chip.init_step = chip.single ? (chip.needs_icw4 ? 4 : 0) : 3;
      return;
    case 3:  // ICW3: cascade wiring; ember's is fixed (slave on IRQ 2)
      chip.init_step = chip.needs_icw4 ? 4 : 0;
      return;
    case 4:
      chip.auto_eoi = value & 2;
      chip.init_step = 0;
      return;
    default:
      chip.imr = value;  // OCW1
      return;
  }
}

uint8_t Pic8259Pair::read_command(Chip& chip) {
  if (chip.poll) {
    // Poll mode: the read acknowledges the highest request (8259A, "Poll Command").
    chip.poll = false;
    const int irq = highest_request(chip);
    if (irq < 0) return 0;
    acknowledge_chip(chip, static_cast<unsigned>(irq));
    return static_cast<uint8_t>(0x80 | irq);
  }
  return chip.read_isr ? chip.isr : chip.irr;
}

void Pic8259Pair::read(const Access& access, std::span<uint8_t> data) {
  if (data.size() != 1) return;
  std::lock_guard lock{mutex_};
  const uint64_t port = access.address;
  if (port == kElcrPort || port == kElcrPort + 1) {
    data[0] = chips_[port - kElcrPort].elcr;
    return;
  }
  Chip& chip = chips_[port >= kSlavePort ? kSlave : kMaster];
  data[0] = (port & 1) ? chip.imr : read_command(chip);
  update_cascade();
}

void Pic8259Pair::write(const Access& access, std::span<const uint8_t> data) {
  if (data.size() != 1) return;
  bool raise = false;
  {
    std::lock_guard lock{mutex_};
    const bool before = output();
    const uint64_t port = access.address;
    if (port == kElcrPort || port == kElcrPort + 1) {
      // IRQs 0, 1, 2, 8 and 13 are always edge-triggered on a PC.
      chips_[port - kElcrPort].elcr = data[0] & (port == kElcrPort ? 0xf8 : 0xde);
      return;
    }
    Chip& chip = chips_[port >= kSlavePort ? kSlave : kMaster];
    if (port & 1) write_data(chip, data[0]);
    else write_command(chip, data[0]);
    update_cascade();
    raise = output() && !before;
  }
  if (raise && cpu_ != nullptr) cpu_->kick();
}

}  // namespace ember

namespace ember {

void Pic8259Pair::save(snapshot::SectionWriter& out) {
  std::lock_guard lock{mutex_};
  for (const Chip& chip : chips_) {
    out.u8(chip.irr).u8(chip.isr).u8(chip.imr).u8(chip.elcr).u8(chip.input).u8(chip.vector_base).u8(chip.lowest_priority)
        .u8(chip.init_step);
    for (const bool flag : {chip.needs_icw4, chip.single, chip.auto_eoi, chip.rotate_on_auto_eoi, chip.read_isr, chip.poll,
                            chip.special_mask}) {
      out.boolean(flag);
    }
  }
}

Result<void> Pic8259Pair::restore(snapshot::SectionReader& in) {
  std::array<Chip, 2> chips{};
  for (Chip& chip : chips) {
    chip.irr = in.u8(), chip.isr = in.u8(), chip.imr = in.u8(), chip.elcr = in.u8(), chip.input = in.u8();
    chip.vector_base = in.u8(), chip.lowest_priority = in.u8(), chip.init_step = in.u8();
    chip.needs_icw4 = in.boolean(), chip.single = in.boolean(), chip.auto_eoi = in.boolean();
    chip.rotate_on_auto_eoi = in.boolean(), chip.read_isr = in.boolean(), chip.poll = in.boolean(), chip.special_mask = in.boolean();
    if (chip.lowest_priority > 7) in.refuse("has a lowest priority above IRQ 7");
    if (chip.init_step == 1 || chip.init_step > 4) in.refuse("has an initialisation step other than 0, 2, 3 or 4");
    if ((chip.vector_base & 7) != 0) in.refuse("has a vector base that is not a multiple of 8");
  }
  if (auto done = in.finish(); !done) return done;
  std::lock_guard lock{mutex_};
  chips_ = chips;
  update_cascade();
  return {};
}

}  // namespace ember
