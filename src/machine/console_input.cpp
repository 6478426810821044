#include "machine/console_input.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace ember {

ConsoleInput::ConsoleInput(int fd, Uart16550& uart)
    : fd_{fd}, uart_{uart}, stop_event_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)} {
  if (stop_event_.valid()) thread_ = std::thread{[this] { pump(); }};
}

ConsoleInput::~ConsoleInput() {
  if (!thread_.joinable()) return;
  const uint64_t one = 1;
  [[maybe_unused]] const auto written = ::write(stop_event_.get(), &one, sizeof one);
  thread_.join();
}

// Waits until `fd` is readable (true) or the stop event fires (false). With
// fd < 0 it only sleeps up to timeout_ms.
bool ConsoleInput::wait_readable_or_stop(int fd, int timeout_ms) const {
  std::array<pollfd, 2> fds{{{stop_event_.get(), POLLIN, 0}, {fd, POLLIN, 0}}};
  while (true) {
    const int ready = ::poll(fds.data(), fd >= 0 ? 2 : 1, timeout_ms);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0 || fds[0].revents != 0) return false;
    return true;
  }
}

void ConsoleInput::pump() {
  std::array<uint8_t, 256> buffer{};
  while (wait_readable_or_stop(fd_, -1)) {
    const ssize_t got = ::read(fd_, buffer.data(), buffer.size());
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return;  // EOF or error: no more console input
    std::span<const uint8_t> pending{buffer.data(), static_cast<size_t>(got)};
    while (!pending.empty()) {
      pending = pending.subspan(uart_.receive(pending));
      if (!pending.empty() && !wait_readable_or_stop(-1, 10)) return;
    }
  }
}

}  // namespace ember
