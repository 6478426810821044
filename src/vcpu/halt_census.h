// Detects a dead guest: every started VCPU halted with interrupts disabled
// and nothing on its way that could wake one (NMI, INIT, SIPI). Without this
// a guest that ends with `cli; hlt` on every CPU would hang until --timeout.
//
// Wake events are counted from the moment the router posts them until the
// receiving VCPU has acted on them, so a SIPI sent just before the sender
// halts keeps the guest alive: the AP counts as started before the event
// stops counting.
#pragma once

#include <atomic>
#include <cstdint>

namespace ember {

class HaltCensus final {
 public:
  void vcpu_started() { started_.fetch_add(1); }
  void vcpu_stopped() { started_.fetch_sub(1); }  // INIT: back to waiting for SIPI
  void wake_event_posted() { wake_events_in_flight_.fetch_add(1); }
  void wake_events_handled(uint32_t count) { wake_events_in_flight_.fetch_sub(count); }
  void woke_from_dead_halt() { dead_halted_.fetch_sub(1); }

  // The caller halted with interrupts off. True when that leaves nothing
  // able to run the guest ever again.
  bool halted_with_interrupts_off() {
    const uint32_t halted = dead_halted_.fetch_add(1) + 1;
    return wake_events_in_flight_.load() == 0 && halted == started_.load();
  }

 private:
  std::atomic<uint32_t> started_{0};
  std::atomic<uint32_t> dead_halted_{0};
  std::atomic<uint32_t> wake_events_in_flight_{0};
};

}  // namespace ember
