#include "virtio/net_device.h"

#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "base/log.h"

namespace ember::virtio {
namespace {

constexpr uint16_t kLinkUp = 1;             // VIRTIO_NET_S_LINK_UP (§5.1.4)
constexpr size_t   kNumBuffersOffset = 10;  // virtio_net_hdr_v1.num_buffers

}  // namespace

NetDevice::NetDevice(Tap tap, std::array<uint8_t, 6> mac) : tap_{std::move(tap)}, packet_(kMaxPacket) {
  std::copy(mac.begin(), mac.end(), config_.begin());
  config_[6] = kLinkUp;  // status, little-endian
  config_[8] = 1;        // max_virtqueue_pairs (meaningful only with MQ)
}

uint64_t NetDevice::device_features() const {
  return kChecksum | kGuestChecksum | kMac | kGuestTso4 | kGuestTso6 | kHostTso4 | kHostTso6 | kMergeableReceiveBuffers | kStatus;
}

void NetDevice::activate(uint64_t negotiated) {
  mergeable_ = (negotiated & kMergeableReceiveBuffers) != 0;
  // The host may hand the guest only what the driver said it can take
  // (§5.1.6.4.1): partial checksums with GUEST_CSUM, large segments with
  // GUEST_TSO4/6.
  unsigned offload = 0;
  if ((negotiated & kGuestChecksum) != 0) {
    offload |= Tap::kChecksum;
    if ((negotiated & kGuestTso4) != 0) offload |= Tap::kTso4;
    if ((negotiated & kGuestTso6) != 0) offload |= Tap::kTso6;
  }
  if (auto set = tap_.set_offload(offload); !set) log::warning(set.error().message);
}

void NetDevice::reset() {
  packet_size_ = 0;  // a packet for the old driver is dropped, as a NIC's reset drops its FIFO
  mergeable_ = false;
}

uint32_t NetDevice::handle(uint16_t queue, const DescriptorChain& chain) {
  if (queue != kTransmitQueue) return 0;
  // §5.1.6.2: a header, then the frame, all device-readable.
  if (chain.readable_bytes() < Tap::kHeaderSize || chain.readable_bytes() > kMaxPacket) {
    EMBER_GUEST_WARNING("virtio-net: dropped a transmit buffer of " + std::to_string(chain.readable_bytes()) +
                        " bytes (a header and at most a 64 KiB frame)");
    return 0;
  }
  ChainReader reader{chain};
  const std::vector<iovec> pieces = reader.take(reader.remaining()).value();
  // One writev takes at most IOV_MAX pieces. A driver's chain has at most
  // a queue's worth of descriptors, fewer than that, but an indirect table
  // may hold more (§2.7.5.3.1 allows up to 32768): such a frame is dropped.
  if (pieces.size() > IOV_MAX) {
    EMBER_GUEST_WARNING("virtio-net: dropped a transmit frame in " + std::to_string(pieces.size()) + " pieces (at most " +
                        std::to_string(IOV_MAX) + ")");
    return 0;
  }
  // The TAP device takes a whole frame or none; when it cannot (the host
  // interface is down, or its queue is full) the frame is dropped, as on a
  // wire.
  const ssize_t sent = ::writev(tap_.fd(), pieces.data(), static_cast<int>(pieces.size()));
  if (sent < 0 && errno != EAGAIN && errno != EIO) {
    EMBER_GUEST_WARNING("virtio-net: tap '" + tap_.name() + "' refused a frame: " + std::strerror(errno));
  }
  return 0;
}

ReceiveWait NetDevice::receive(uint16_t, ReceiveBuffers& buffers) {
  for (uint32_t delivered = 0; delivered < kMaxPacketsPerCall; ++delivered) {
    if (packet_size_ == 0 && !read_packet()) return ReceiveWait::kHostData;
    if (!deliver(buffers)) return ReceiveWait::kBuffers;
  }
  return ReceiveWait::kHostData;
}

bool NetDevice::read_packet() {
  for (;;) {
    const ssize_t got = tap_.read(packet_.data(), packet_.size());
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      if (errno != EAGAIN) EMBER_GUEST_WARNING("virtio-net: cannot read tap '" + tap_.name() + "': " + std::strerror(errno));
      return false;
    }
    if (static_cast<size_t>(got) <= Tap::kHeaderSize) continue;  // no frame behind the header: nothing to deliver
    if (static_cast<size_t>(got) > packet_.size()) {
      // tun reports a frame's whole length even when it copied only what
      // fit: the rest is not in packet_, so the frame is dropped.
      EMBER_GUEST_WARNING("virtio-net: dropped a " + std::to_string(got) + "-byte frame from tap '" + tap_.name() +
                          "', larger than the " + std::to_string(packet_.size()) + " bytes ember reads");
      continue;
    }
    packet_size_ = static_cast<size_t>(got);
    return true;
  }
}

bool NetDevice::deliver(ReceiveBuffers& buffers) {
  // Take buffers until the packet fits: one without mergeable buffers,
  // as many as needed with them (§5.1.6.4.2).
  std::array<UsedElement, 64> used{};
  std::array<DescriptorChain, 64> chains;
  size_t count = 0, room = 0;
  while (room < packet_size_) {
    if (count == chains.size() || (!mergeable_ && count == 1)) {
      // Buffers this small cannot hold the packet: drop it rather than
      // stall the queue, as a NIC drops a frame too big for its buffers.
      buffers.give_back(static_cast<uint16_t>(count));
      EMBER_GUEST_WARNING("virtio-net: dropped a received packet of " + std::to_string(packet_size_) +
                          " bytes that does not fit the driver's receive buffers");
      packet_size_ = 0;
      return true;
    }
    auto chain = buffers.take();
    if (!chain) {
      buffers.give_back(static_cast<uint16_t>(count));
      return false;  // the packet waits for more buffers
    }
    room += chain->writable_bytes();
    chains[count++] = std::move(*chain);
  }
  const uint16_t num_buffers = static_cast<uint16_t>(count);
  std::memcpy(packet_.data() + kNumBuffersOffset, &num_buffers, 2);  // little-endian on x86
  size_t done = 0;
  for (size_t i = 0; i < count; ++i) {
    ChainWriter writer{chains[i]};
    const size_t piece = std::min<size_t>(writer.remaining(), packet_size_ - done);
    (void)writer.write({packet_.data() + done, piece});  // fits: room was counted above
    done += piece;
    used[i] = {chains[i].head, static_cast<uint32_t>(piece)};
  }
  buffers.fill({used.data(), count});
  packet_size_ = 0;
  return true;
}

}  // namespace ember::virtio
