// Sleeping on and waking a 32-bit word (futex(2)), with an optional
// absolute CLOCK_MONOTONIC deadline, which std::atomic::wait lacks.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <optional>

#include "base/clock.h"

namespace ember {

// Sleeps while `word` holds `expected`, at most until `deadline`. Returns on
// a wake, a signal, the deadline or spuriously: callers re-check their state.
inline void futex_wait(std::atomic<uint32_t>& word, uint32_t expected, std::optional<uint64_t> deadline = std::nullopt) {
  timespec relative{};
  timespec* timeout = nullptr;
  if (deadline) {
    const uint64_t now = monotonic_ns();
    const uint64_t wait = *deadline > now ? *deadline - now : 0;
    relative.tv_sec = static_cast<time_t>(wait / 1'000'000'000);
    relative.tv_nsec = static_cast<long>(wait % 1'000'000'000);
    timeout = &relative;
  }
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAIT_PRIVATE, expected, timeout, nullptr, 0);
}

inline void futex_wake(std::atomic<uint32_t>& word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word), FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

}  // namespace ember
