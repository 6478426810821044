#include "virtio/console_device.h"

#include <poll.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>

#include "base/log.h"

namespace ember::virtio {
namespace {

bool readable_now(int fd) {
  pollfd poll_fd{fd, POLLIN, 0};
  return ::poll(&poll_fd, 1, 0) > 0;  // POLLIN, or POLLHUP/POLLERR that read() will report
}

}  // namespace

uint32_t ConsoleDevice::handle(uint16_t queue, const DescriptorChain& chain) {
  if (queue != kTransmitQueue) return 0;
  // §5.3.6.1: the port's output is every readable byte, in order. The
  // console write blocks while the host reader is slow, which holds the
  // guest back instead of buffering its output.
  ChainReader reader{chain};
  const std::vector<iovec> pieces = reader.take(reader.remaining()).value();  // all of them: cannot fail
  for (const iovec& piece : pieces) output_.write({static_cast<const uint8_t*>(piece.iov_base), piece.iov_len});
  return 0;
}

ReceiveWait ConsoleDevice::receive(uint16_t, ReceiveBuffers& buffers) {
  for (uint32_t filled = 0; filled < kMaxBuffersPerCall; ++filled) {
    if (input_closed_ || input_fd_ < 0) return ReceiveWait::kBuffers;
    if (!readable_now(input_fd_)) return ReceiveWait::kHostData;
    auto chain = buffers.take();
    if (!chain) return ReceiveWait::kBuffers;
    ChainWriter writer{*chain};
    std::vector<iovec> pieces = writer.take(writer.remaining()).value();
    const size_t count = std::min<size_t>(pieces.size(), 64);  // readv's share of one call; the rest stays unwritten
    if (count == 0) {
      // Nothing can be written into it: give it back used and empty, so the
      // queue does not stall on it.
      EMBER_GUEST_WARNING("virtio-console: an input buffer with no writable space");
      const UsedElement empty{chain->head, 0};
      buffers.fill(std::span{&empty, 1});
      continue;
    }
    const ssize_t got = ::readv(input_fd_, pieces.data(), static_cast<int>(count));
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
      buffers.give_back(1);
      return ReceiveWait::kHostData;
    }
    if (got <= 0) {
      buffers.give_back(1);
      input_closed_ = true;  // EOF or error: no more input, as from a closed terminal
      return ReceiveWait::kBuffers;
    }
    const UsedElement used{chain->head, static_cast<uint32_t>(got)};
    buffers.fill(std::span{&used, 1});
  }
  return ReceiveWait::kHostData;
}

}  // namespace ember::virtio
