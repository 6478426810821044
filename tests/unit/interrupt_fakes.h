// Fakes for unit tests of the interrupt path: a VCPU that counts kicks and
// an IOAPIC that records the EOIs broadcast to it.
#pragma once

#include <cstdint>
#include <vector>

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

}  // namespace ember::test
