#include "virtio/block_request.h"

#include <string>

#include "virtio/disk_image.h"

namespace ember::virtio {
namespace {

struct Header {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
};
static_assert(sizeof(Header) == 16);

struct WireRange {
  uint64_t sector;
  uint32_t num_sectors;
  uint32_t flags;
};
static_assert(sizeof(WireRange) == 16);
constexpr uint32_t kRangeUnmap = 1;

// [first, first + count) within the disk, with the addition checked.
bool inside_disk(uint64_t first, uint64_t count, uint64_t sectors) { return first <= sectors && count <= sectors - first; }

ParsedBlockRequest answer(BlockStatus status, uint32_t status_at, std::string complaint) {
  return ParsedBlockRequest{std::nullopt, status, status_at, std::move(complaint)};
}

}  // namespace

std::optional<ParsedBlockRequest> parse_block_request(const DescriptorChain& chain, ChainReader& reader, const BlockDeviceLimits& limits) {
  if (chain.writable_bytes() == 0) return std::nullopt;
  // The status is the last writable byte; everything writable before it is
  // room for data (§5.2.6).
  const uint32_t room = chain.writable_bytes() - 1;
  const auto header = reader.read_object<Header>();
  if (!header) return answer(BlockStatus::IoError, room, "a request shorter than its 16-byte header");

  BlockRequest request;
  request.first_sector = header->sector;
  switch (header->type) {
    case static_cast<uint32_t>(BlockRequestType::In):
    case static_cast<uint32_t>(BlockRequestType::Out): {
      // Reads fill the writable room before the status; writes take what
      // is readable after the header.
      const bool write = header->type == static_cast<uint32_t>(BlockRequestType::Out);
      request.type = write ? BlockRequestType::Out : BlockRequestType::In;
      const std::string what = write ? "a write" : "a read";
      const uint32_t data = write ? reader.remaining() : room;
      if (write && limits.read_only) return answer(BlockStatus::IoError, room, "a write to a read-only disk");
      if (data % DiskImage::kSectorSize != 0) return answer(BlockStatus::IoError, room, what + " that is not a whole number of sectors");
      if (!inside_disk(header->sector, data / DiskImage::kSectorSize, limits.sectors)) {
        return answer(BlockStatus::IoError, room, what + " past the end of the disk, at sector " + std::to_string(header->sector));
      }
      request.data_bytes = data;
      return ParsedBlockRequest{std::move(request), BlockStatus::Ok, room, {}};
    }
    case static_cast<uint32_t>(BlockRequestType::Flush):
      request.type = BlockRequestType::Flush;
      return ParsedBlockRequest{std::move(request), BlockStatus::Ok, room, {}};
    case static_cast<uint32_t>(BlockRequestType::GetId):
      request.type = BlockRequestType::GetId;
      if (room < kBlockIdBytes) return answer(BlockStatus::IoError, room, "a GET_ID buffer smaller than 20 bytes");
      return ParsedBlockRequest{std::move(request), BlockStatus::Ok, room, {}};
    case static_cast<uint32_t>(BlockRequestType::Discard):
    case static_cast<uint32_t>(BlockRequestType::WriteZeroes): {
      const bool discard = header->type == static_cast<uint32_t>(BlockRequestType::Discard);
      request.type = discard ? BlockRequestType::Discard : BlockRequestType::WriteZeroes;
      if (!limits.discard_and_zeroes) return answer(BlockStatus::Unsupported, room, "DISCARD or WRITE_ZEROES, which this disk does not offer");
      const uint32_t data = reader.remaining();
      if (data == 0 || data % sizeof(WireRange) != 0 || data / sizeof(WireRange) > kMaxDiscardSegments) {
        return answer(BlockStatus::IoError, room, "a DISCARD or WRITE_ZEROES with a malformed range list");
      }
      for (uint32_t i = 0; i < data / sizeof(WireRange); ++i) {
        const WireRange range = *reader.read_object<WireRange>();
        // §5.2.6.2: unknown flags, and unmap on a discard, are errors.
        if ((range.flags & ~kRangeUnmap) != 0 || (discard && range.flags != 0)) {
          return answer(BlockStatus::Unsupported, room, "a range with unknown flags");
        }
        if (range.num_sectors > kMaxRangeSectors) {
          // What ember announced as the most one range may cover (§5.2.6.2).
          return answer(BlockStatus::IoError, room, "a range of " + std::to_string(range.num_sectors) +
                                                        " sectors, more than the announced " + std::to_string(kMaxRangeSectors));
        }
        if (!inside_disk(range.sector, range.num_sectors, limits.sectors)) {
          return answer(BlockStatus::IoError, room, "a range past the end of the disk, at sector " + std::to_string(range.sector));
        }
        request.ranges.push_back({range.sector, range.num_sectors, (range.flags & kRangeUnmap) != 0});
      }
      return ParsedBlockRequest{std::move(request), BlockStatus::Ok, room, {}};
    }
    default:
      return answer(BlockStatus::Unsupported, room, "unknown request type " + std::to_string(header->type));
  }
}

}  // namespace ember::virtio
