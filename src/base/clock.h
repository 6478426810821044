#pragma once

#include <time.h>

#include <atomic>
#include <cstdint>

namespace ember {

// CLOCK_MONOTONIC in nanoseconds: the time base of LAPIC timers.
inline uint64_t monotonic_ns() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec);
}

}  // namespace ember

namespace ember {

// The machine's clock: CLOCK_MONOTONIC, shifted for a restored machine so
// that it continues from the reading its snapshot saved. Device timers, the
// LAPIC timers and the PIT are on it, so their saved deadlines stay right
// however long the snapshot sat (issue 20). Set before any machine thread
// starts; read from any thread.
class MachineClock {
 public:
  uint64_t now() const { return monotonic_ns() + offset_.load(std::memory_order_relaxed); }
  // The CLOCK_MONOTONIC time at which the machine's clock reads `machine_ns`,
  // for host timers (unsigned arithmetic: the offset may be negative).
  uint64_t host_time(uint64_t machine_ns) const { return machine_ns - offset_.load(std::memory_order_relaxed); }
  // From now on the machine's clock reads `machine_ns` and counts on.
  void continue_from(uint64_t machine_ns) { offset_.store(machine_ns - monotonic_ns(), std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> offset_{0};
};

}  // namespace ember
