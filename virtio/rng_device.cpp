#include "virtio/rng_device.h"

#include <sys/random.h>

#include <algorithm>
#include <cerrno>

#include "base/log.h"

namespace ember::virtio {

uint32_t RngDevice::handle(uint16_t, const DescriptorChain& chain) {
  ChainWriter writer{chain};
  auto pieces = writer.take(std::min(writer.remaining(), kMaxBytesPerRequest));
  if (!pieces) return 0;
  uint32_t filled = 0;
  for (const iovec& piece : *pieces) {
    for (size_t done = 0; done < piece.iov_len;) {
      const ssize_t got = ::getrandom(static_cast<uint8_t*>(piece.iov_base) + done, piece.iov_len - done, 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        EMBER_GUEST_WARNING("virtio-rng: getrandom failed");
        return filled;  // §5.4.6: the used length says how much is random
      }
      done += static_cast<size_t>(got);
      filled += static_cast<uint32_t>(got);
    }
  }
  return filled;
}

}  // namespace ember::virtio
