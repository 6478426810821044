// virtio-net (virtio 1.2 §5.1) over a TAP interface: one receive and one
// transmit queue, a MAC address, link status, mergeable receive buffers, and
// checksum/segmentation offloads passed through to the TAP device, which
// takes the same virtio_net_hdr (IFF_VNET_HDR).
//
// Transmit writes the driver's buffers (header and frame) to the TAP device
// with one writev, straight from guest memory. Receive reads one packet into
// a bounce buffer and then spreads it over as many receive buffers as it
// needs (mergeable buffers, §5.1.6.4): the packet's size is not known before
// the read, and a read into buffers too small would truncate it. A packet
// waits (in the bounce buffer, then in the TAP device's own bounded queue)
// while the driver has no buffers; nothing grows in ember.
#pragma once

#include <array>
#include <vector>

#include "virtio/tap.h"
#include "virtio/virtio_device.h"

namespace ember::virtio {

class NetDevice final : public VirtioDevice {
 public:
  static constexpr uint16_t kReceiveQueue = 0, kTransmitQueue = 1;
  // Feature bits (§5.1.3).
  static constexpr uint64_t kChecksum = 1ull << 0, kGuestChecksum = 1ull << 1, kMac = 1ull << 5, kGuestTso4 = 1ull << 7,
                            kGuestTso6 = 1ull << 8, kHostTso4 = 1ull << 11, kHostTso6 = 1ull << 12,
                            kMergeableReceiveBuffers = 1ull << 15, kStatus = 1ull << 16;
  // The largest packet either way: a 64 KiB segmentation-offload packet, an
  // Ethernet header with a VLAN tag, and the virtio_net_hdr.
  static constexpr size_t kMaxPacket = Tap::kHeaderSize + 65535 + 18;
  // Packets delivered per receive() call, so a flood cannot keep the worker
  // (and a reset waiting for it) busy for long.
  static constexpr uint32_t kMaxPacketsPerCall = 64;

  NetDevice(Tap tap, std::array<uint8_t, 6> mac);

  std::string_view         name() const override { return "virtio-net"; }
  uint32_t                 device_type() const override { return 1; }
  uint64_t                 device_features() const override;
  uint16_t                 queue_count() const override { return 2; }
  std::span<const uint8_t> config_space() const override { return config_; }
  void                     activate(uint64_t negotiated) override;
  uint32_t                 handle(uint16_t queue, const DescriptorChain& chain) override;
  void                     reset() override;

  bool        is_receive_queue(uint16_t queue) const override { return queue == kReceiveQueue; }
  int         host_data_fd() const override { return tap_.fd(); }
  ReceiveWait receive(uint16_t queue, ReceiveBuffers& buffers) override;

 private:
  // Reads the next packet from the TAP device into packet_; false if none.
  bool read_packet();
  // Spreads packet_ over receive buffers; false (all given back) if the
  // driver has too few.
  bool deliver(ReceiveBuffers& buffers);

  Tap                      tap_;
  // struct virtio_net_config (§5.1.4): mac[6], status, max_virtqueue_pairs.
  std::array<uint8_t, 10>  config_{};
  bool                     mergeable_ = false;  // negotiated; set at activation, read by the worker
  std::vector<uint8_t>     packet_;             // the packet waiting for buffers; kMaxPacket bytes
  size_t                   packet_size_ = 0;    // 0: none waiting
};

}  // namespace ember::virtio
