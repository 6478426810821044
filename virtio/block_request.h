// Parsing a virtio-blk request (virtio 1.2 §5.2.6) out of a descriptor
// chain, apart from doing it, so the parser can be unit-tested and fuzzed
// on its own.
//
// A request is a 16-byte header the device reads, then data (read by the
// device for writes, discards and write-zeroes; written by it for reads and
// GET_ID), then one status byte the device writes last. Every way a driver
// can get this wrong ends in a status, never in host I/O outside the disk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "virtio/descriptor_chain.h"

namespace ember::virtio {

// VIRTIO_BLK_T_* (§5.2.6).
enum class BlockRequestType : uint32_t {
  In = 0,
  Out = 1,
  Flush = 4,
  GetId = 8,
  Discard = 11,
  WriteZeroes = 13,
};

// VIRTIO_BLK_S_* (§5.2.6).
enum class BlockStatus : uint8_t { Ok = 0, IoError = 1, Unsupported = 2 };

inline constexpr uint32_t kBlockIdBytes = 20;          // VIRTIO_BLK_ID_BYTES
inline constexpr uint32_t kMaxRangeSectors = 1u << 22;   // 2 GiB: max_discard_sectors and max_write_zeroes_sectors
inline constexpr uint32_t kMaxDiscardSegments = 32;    // what ember announces in max_discard_seg / max_write_zeroes_seg

// One range of a DISCARD or WRITE_ZEROES request (struct virtio_blk_discard_write_zeroes).
struct BlockRange {
  uint64_t first_sector;
  uint32_t sectors;
  bool     unmap;  // WRITE_ZEROES may deallocate
};

struct BlockRequest {
  BlockRequestType        type = BlockRequestType::In;
  uint64_t                first_sector = 0;
  uint32_t                data_bytes = 0;  // In/Out: a whole number of sectors
  std::vector<BlockRange> ranges;          // Discard/WriteZeroes
};

struct BlockDeviceLimits {
  uint64_t sectors;              // the disk's capacity
  bool     read_only;
  bool     discard_and_zeroes;   // offered (not on read-only disks)
};

// What parsing decided: either a request to carry out, or the status to
// answer at once. `reader` is left at the start of any data to read;
// `status_at` is how many writable bytes precede the status byte.
struct ParsedBlockRequest {
  std::optional<BlockRequest> request;
  BlockStatus                 status = BlockStatus::Ok;
  uint32_t                    status_at = 0;
  std::string                 complaint;  // why the status is not Ok, for the rate-limited log
};

// nullopt when the chain has no writable byte for the status: the request
// cannot even be answered.
std::optional<ParsedBlockRequest> parse_block_request(const DescriptorChain& chain, ChainReader& reader, const BlockDeviceLimits& limits);

}  // namespace ember::virtio
