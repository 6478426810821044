#include "virtio/block_device.h"

#include <fcntl.h>
#include <limits.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "base/log.h"

namespace ember::virtio {
namespace {

template <class T>
void put(std::array<uint8_t, 60>& config, size_t offset, T value) {
  std::memcpy(config.data() + offset, &value, sizeof value);  // x86 is little-endian, as virtio 1.x is
}

}  // namespace

BlockDevice::BlockDevice(DiskImage disk, uint16_t queues)
    : disk_{std::move(disk)},
      queues_{queues},
      name_{"virtio-blk " + disk_.path()},
      limits_{disk_.sectors(), disk_.read_only(), !disk_.read_only()} {
  // struct virtio_blk_config (§5.2.4).
  put<uint64_t>(config_, 0, disk_.sectors());           // capacity
  put<uint32_t>(config_, 12, kQueueSize - 2);           // seg_max: header and status take two descriptors
  put<uint32_t>(config_, 20, DiskImage::kSectorSize);   // blk_size
  put<uint16_t>(config_, 34, queues_);                  // num_queues
  const uint32_t max_range_sectors = kMaxRangeSectors;  // enforced per range by the parser
  put<uint32_t>(config_, 36, max_range_sectors);        // max_discard_sectors
  put<uint32_t>(config_, 40, kMaxDiscardSegments);      // max_discard_seg
  put<uint32_t>(config_, 44, 1);                        // discard_sector_alignment
  put<uint32_t>(config_, 48, max_range_sectors);        // max_write_zeroes_sectors
  put<uint32_t>(config_, 52, kMaxDiscardSegments);      // max_write_zeroes_seg
  config_[56] = 1;                                      // write_zeroes_may_unmap
}

BlockDevice::~BlockDevice() {
  // ember is stopping (the guest exited, or SIGTERM): what the guest wrote
  // reaches the disk even if it never flushed.
  if (!disk_.flush()) log::error(name_ + ": final flush failed: " + std::strerror(errno));
}

uint64_t BlockDevice::device_features() const {
  uint64_t features = kFeatureSegMax | kFeatureBlockSize | kFeatureFlush;
  if (queues_ > 1) features |= kFeatureMultiQueue;
  if (disk_.read_only()) features |= kFeatureReadOnly;
  else features |= kFeatureDiscard | kFeatureWriteZeroes;
  return features;
}

std::optional<std::string> BlockDevice::why_not_snapshottable() const {
  // The overlay is not part of a snapshot: a restored guest would believe
  // those sectors written while its disk reads the image's old ones.
  if (disk_.overlay_written()) {
    return "the guest wrote to the overlay disk '" + disk_.path() +
           "' before it was ready; a snapshot does not hold an overlay's writes, so a restore would lose them";
  }
  return std::nullopt;
}

void BlockDevice::activate(uint64_t negotiated) { write_through_ = (negotiated & kFeatureFlush) == 0; }

uint32_t BlockDevice::handle(uint16_t, const DescriptorChain& chain) {
  ChainReader reader{chain};
  ChainWriter writer{chain};
  auto parsed = parse_block_request(chain, reader, limits_);
  if (!parsed) {
    EMBER_GUEST_WARNING(name_ + ": a request with no room for its status byte; dropped");
    return 0;
  }
  BlockStatus status = parsed->status;
  if (parsed->request) {
    status = execute(*parsed->request, reader, writer);
  } else {
    EMBER_GUEST_WARNING(name_ + ": " + parsed->complaint);
  }
  // The status goes in the last writable byte, after any data.
  const uint32_t data_written = writer.written();
  const uint8_t code = static_cast<uint8_t>(status);
  if (!writer.skip(parsed->status_at - data_written) || !writer.write({&code, 1})) {
    return data_written;  // cannot happen: status_at < writable_bytes
  }
  return writer.written();
}

BlockStatus BlockDevice::execute(const BlockRequest& request, ChainReader& reader, ChainWriter& writer) {
  const uint64_t offset = request.first_sector * DiskImage::kSectorSize;  // < 2^64: inside the disk
  switch (request.type) {
    case BlockRequestType::In: {
      auto pieces = writer.take(request.data_bytes);
      if (!pieces || !disk_.read(std::move(*pieces), offset)) {
        EMBER_GUEST_WARNING(name_ + ": read failed: " + std::strerror(errno));
        return BlockStatus::IoError;
      }
      return BlockStatus::Ok;
    }
    case BlockRequestType::Out: {
      auto pieces = reader.take(request.data_bytes);
      if (!pieces || !disk_.write(std::move(*pieces), offset)) {
        EMBER_GUEST_ERROR(name_ + ": write failed: " + std::strerror(errno));
        return BlockStatus::IoError;
      }
      return write_through_ ? flush() : BlockStatus::Ok;
    }
    case BlockRequestType::Flush:
      return flush();
    case BlockRequestType::GetId: {
      std::array<uint8_t, kBlockIdBytes> id{};  // NUL-padded when shorter (§5.2.6)
      std::memcpy(id.data(), disk_.serial().data(), std::min<size_t>(disk_.serial().size(), id.size()));
      return writer.write(id) ? BlockStatus::Ok : BlockStatus::IoError;
    }
    case BlockRequestType::Discard:
    case BlockRequestType::WriteZeroes:
      for (const BlockRange& range : request.ranges) {
        const uint64_t at = range.first_sector * DiskImage::kSectorSize;
        const uint64_t length = uint64_t{range.sectors} * DiskImage::kSectorSize;
        if (length == 0) continue;
        // A discard is only advice (§5.2.6.2); zeroes must be written.
        if (request.type == BlockRequestType::Discard) {
          disk_.discard(at, length);
        } else if (!disk_.zero(at, length, range.unmap)) {
          EMBER_GUEST_ERROR(name_ + ": write zeroes failed: " + std::strerror(errno));
          return BlockStatus::IoError;
        }
      }
      return write_through_ && request.type == BlockRequestType::WriteZeroes ? flush() : BlockStatus::Ok;
  }
  return BlockStatus::Unsupported;
}

BlockStatus BlockDevice::flush() {
  if (!disk_.flush()) {
    EMBER_GUEST_ERROR(name_ + ": flush failed: " + std::strerror(errno));
    return BlockStatus::IoError;
  }
  return BlockStatus::Ok;
}

}  // namespace ember::virtio
