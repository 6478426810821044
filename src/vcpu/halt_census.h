// Counts VCPUs halted with interrupts disabled. When every running VCPU is in
// that state nothing can ever wake the guest again (no VCPU is left to send an
// NMI or INIT), so the machine reports a dead guest instead of hanging.
#pragma once

#include <atomic>
#include <cstdint>

namespace ember {

class HaltCensus final {
 public:
  explicit HaltCensus(uint32_t running_vcpus) : running_{running_vcpus} {}

  // Returns true when this halt makes every running VCPU halted with
  // interrupts off. A VCPU in that state never leaves it today; the
  // interrupt work (NMI, INIT) will add the matching "woken" call.
  bool halted_with_interrupts_off() { return halted_.fetch_add(1) + 1 == running_; }

 private:
  std::atomic<uint32_t> halted_{0};
  const uint32_t        running_;
};

}  // namespace ember
