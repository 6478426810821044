// Fakes for unit tests of the interrupt path: a VCPU that counts kicks, an
// IOAPIC that records the EOIs broadcast to it, and a device's interrupt
// line that remembers its level.
#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <cstdint>
#include <utility>
#include <vector>

#include "irq/interrupt_line.h"
#include "irq/interrupt_router.h"
#include "irq/lapic.h"
#include "irq/msi.h"
#include "run/outcome.h"

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
  void set_level(bool asserted) override {
    if (asserted && !level) ++rising_edges;
    level = asserted;
  }
  std::atomic<bool> level{false};
  std::atomic<int>  rising_edges{0};
};

// The machine as a device sees it: the first stop request is kept.
class RecordingControl final : public MachineControl {
 public:
  void request_stop(Outcome outcome) override {
    if (!stopped) stopped = outcome;
  }
  std::optional<Outcome> stopped;
};

// Every MSI sent, for devices with MSI-X.
class RecordingMsi final : public MsiSender {
 public:
  void send_msi(uint64_t address, uint32_t data) override {
    std::lock_guard lock{mutex_};
    sent_.emplace_back(address, data);
  }
  std::vector<std::pair<uint64_t, uint32_t>> sent() {
    std::lock_guard lock{mutex_};
    return sent_;
  }

 private:
  std::mutex                                 mutex_;
  std::vector<std::pair<uint64_t, uint32_t>> sent_;
};

}  // namespace ember::test
