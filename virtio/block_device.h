// virtio-blk (virtio 1.2 §5.2) over a raw image file.
//
// I/O: each queue's requests are served one after another on that queue's
// worker thread (a pool of one thread per queue) with preadv/pwritev straight
// into the chain's buffers, so the queues of a multi-queue disk proceed in
// parallel. Not io_uring: io_uring operations bypass seccomp (which is how
// ember confines itself), and container runtimes commonly forbid
// io_uring_setup, so ember would not start where CI runs it. A FLUSH is
// fdatasync on the image, which covers every write any queue completed
// before it.
//
// Durability: FLUSH is fdatasync, and the status is written only after it
// returns, so an acknowledged flush is on disk. A driver that did not
// negotiate FLUSH gets write-through: every write is fdatasync'd before its
// status (§5.2.5.1: without FLUSH the device must not cache writes).
#pragma once

#include <array>
#include <string>

#include "virtio/block_request.h"
#include "virtio/disk_image.h"
#include "virtio/virtio_device.h"

namespace ember::virtio {

class BlockDevice final : public VirtioDevice {
 public:
  // §5.2.3 feature bits.
  static constexpr uint64_t kFeatureSegMax = 1ull << 2, kFeatureReadOnly = 1ull << 5, kFeatureBlockSize = 1ull << 6,
                            kFeatureFlush = 1ull << 9, kFeatureMultiQueue = 1ull << 12, kFeatureDiscard = 1ull << 13,
                            kFeatureWriteZeroes = 1ull << 14;
  static constexpr uint16_t kQueueSize = 256;

  BlockDevice(DiskImage disk, uint16_t queues);
  ~BlockDevice() override;

  std::string_view         name() const override { return name_; }
  uint32_t                 device_type() const override { return 2; }
  uint64_t                 device_features() const override;
  uint16_t                 queue_count() const override { return queues_; }
  uint16_t                 max_queue_size() const override { return kQueueSize; }
  std::span<const uint8_t> config_space() const override { return config_; }
  void                     activate(uint64_t negotiated) override;
  uint32_t                 handle(uint16_t queue, const DescriptorChain& chain) override;
  // Requests share nothing but the image's descriptor (preadv, pwritev and
  // fdatasync are safe on it from several threads): each queue is served
  // by its own worker.
  bool                     queues_are_independent() const override { return true; }
  std::optional<std::string> why_not_snapshottable() const override;

 private:
  BlockStatus execute(const BlockRequest& request, ChainReader& reader, ChainWriter& writer);
  BlockStatus flush();

  DiskImage                disk_;
  const uint16_t           queues_;
  const std::string        name_;
  const BlockDeviceLimits  limits_;
  std::array<uint8_t, 60>  config_{};  // struct virtio_blk_config up to write_zeroes_may_unmap
  bool                     write_through_ = true;  // until the driver negotiates FLUSH
};

}  // namespace ember::virtio
