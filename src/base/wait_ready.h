// Waiting for a descriptor with a deadline, the one way ember does it: poll,
// restarted after a signal with the time that is left, so a kick or a timer
// signal neither ends the wait early nor stretches it.
#pragma once

#include <poll.h>

#include <cerrno>
#include <chrono>
#include <climits>

namespace ember {

enum class Readiness {
  kReady,     // `fd` has one of the events, or POLLHUP/POLLERR: the read or write says which
  kAborted,   // `abort_fd` became readable first (ember is stopping)
  kTimedOut,  // the deadline passed (or poll itself failed, which it does only for want of memory)
};

// Waits until `fd` is ready for `events`, `abort_fd` (ignored when < 0) is
// readable, or `deadline` passes. A deadline already past still polls once.
inline Readiness wait_ready(int fd, short events, std::chrono::steady_clock::time_point deadline, int abort_fd = -1) {
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd ready[] = {{fd, events, 0}, {abort_fd, POLLIN, 0}};  // a negative fd is skipped (poll(2))
    const int got = ::poll(ready, 2, static_cast<int>(left <= 0 ? 0 : left > INT_MAX ? INT_MAX : left));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return Readiness::kTimedOut;
    if (ready[1].revents != 0) return Readiness::kAborted;
    return Readiness::kReady;
  }
}

}  // namespace ember
