// Detects a dead guest: every started VCPU halted with interrupts disabled,
// nothing on its way that could wake one (NMI, INIT, SIPI), and no device
// routed to send such an event later. Without this
// a guest that ends with `cli; hlt` on every CPU would hang until --timeout.
//
// Wake events are counted from the moment the router posts them until the
// receiving VCPU has acted on them, so a SIPI sent just before the sender
// halts keeps the guest alive: the AP counts as started before the event
// stops counting.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

namespace ember {

class HaltCensus final {
 public:
  void vcpu_started() { started_.fetch_add(1); }
  void vcpu_stopped() { started_.fetch_sub(1); }  // INIT: back to waiting for SIPI
  void wake_event_posted() { wake_events_in_flight_.fetch_add(1); }
  void wake_events_handled(uint32_t count) { wake_events_in_flight_.fetch_sub(count); }
  void woke_from_dead_halt() { dead_halted_.fetch_sub(1); }
  // During assembly: whether a device could still send an NMI or INIT later
  // (an IOAPIC pin or an MSI-X entry routed that way). Then a guest whose
  // VCPUs all halt with interrupts off is waiting for it, not dead: a PIT on
  // an NMI-routed pin wakes it.
  void set_wake_sources(std::function<bool()> armed) { wake_sources_armed_ = std::move(armed); }

  // The caller halted with interrupts off. True when that leaves nothing
  // able to run the guest ever again.
  bool halted_with_interrupts_off() {
    const uint32_t halted = dead_halted_.fetch_add(1) + 1;
    if (wake_events_in_flight_.load() != 0 || halted != started_.load()) return false;
    return !wake_sources_armed_ || !wake_sources_armed_();
  }

 private:
  std::atomic<uint32_t> started_{0};
  std::atomic<uint32_t> dead_halted_{0};
  std::atomic<uint32_t> wake_events_in_flight_{0};
  std::function<bool()> wake_sources_armed_;
};

}  // namespace ember
