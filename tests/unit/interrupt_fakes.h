// Fakes for unit tests of the interrupt path: a VCPU that counts kicks, an
// IOAPIC that records the EOIs broadcast to it, and a device's interrupt
// line that remembers its level.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "devices/interrupt_line.h"
#include "devices/lapic.h"
#include "irq/interrupt_router.h"

namespace ember::test {

class CountingKick final : public Kickable {
 public:
  void kick() override { ++kicks; }
  int kicks = 0;
};

class RecordingEoi final : public EoiListener {
 public:
  void end_of_interrupt(uint8_t vector) override { vectors.push_back(vector); }
  std::vector<uint8_t> vectors;
};

class RecordingLine final : public InterruptLine {
 public:
  void set_level(bool asserted) override { level = asserted; }
  std::atomic<bool> level{false};
};

}  // namespace ember::test
