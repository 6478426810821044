#include "devices/console_output.h"

#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "base/log.h"

namespace ember {

void FdConsoleOutput::write(std::span<const uint8_t> bytes) {
  while (!bytes.empty()) {
    const ssize_t written = ::write(fd_, bytes.data(), bytes.size());
    if (written > 0) {
      bytes = bytes.subspan(static_cast<size_t>(written));
    } else if (written < 0 && errno == EINTR) {
      continue;
    } else if (written < 0 && errno == EAGAIN) {
      pollfd waiting{fd_, POLLOUT, 0};
      ::poll(&waiting, 1, -1);
    } else {
      // The console went away (closed pipe, full disk): keep the guest
      // running and say so once in a while.
      EMBER_GUEST_WARNING("console output failed; dropping guest console bytes");
      return;
    }
  }
}

}  // namespace ember
