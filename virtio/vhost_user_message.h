// vhost-user messages (QEMU's docs/interop/vhost-user.rst, "Message
// specification"): what ember, the front end, writes to a backend such as
// virtiofsd, and the one place that checks what comes back.
//
// A message is a 12-byte header (request, flags, payload size) and the
// payload; file descriptors travel beside it as SCM_RIGHTS. Every reply is
// untrusted input: parse_reply() checks the version, the reply flag, that it
// answers the request ember sent, and the payload's exact size, before any
// field is read.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"

namespace ember::virtio::vhost_user {

enum class Request : uint32_t {
  kGetFeatures = 1,
  kSetFeatures = 2,
  kSetOwner = 3,
  kSetMemTable = 5,
  kSetVringNum = 8,
  kSetVringAddr = 9,
  kSetVringBase = 10,
  kGetVringBase = 11,
  kSetVringKick = 12,
  kSetVringCall = 13,
  kGetProtocolFeatures = 15,
  kSetProtocolFeatures = 16,
  kGetQueueNum = 17,
  kSetVringEnable = 18,
};
const char* request_name(Request request);

// Header flags: version 1 in bits 0-1, a reply, a request for an ack.
inline constexpr uint32_t kVersion = 0x1, kVersionMask = 0x3, kReplyFlag = 1u << 2, kNeedReplyFlag = 1u << 3;
inline constexpr size_t   kHeaderSize = 12;
// The largest payload ember sends or accepts: SET_MEM_TABLE with 8 regions.
inline constexpr size_t   kMaxPayload = 8 + 8 * 32;
inline constexpr size_t   kMaxRegions = 8;

// Feature bit 30 says the backend speaks protocol features.
inline constexpr uint64_t kProtocolFeaturesFeature = 1ull << 30;
// Protocol features ember uses.
inline constexpr uint64_t kProtocolMultiQueue = 1ull << 0, kProtocolReplyAck = 1ull << 3;
// SET_VRING_KICK/CALL: the ring index in bits 0-7; bit 8 means "no fd".
inline constexpr uint64_t kVringIndexMask = 0xff, kVringNoFd = 1ull << 8;

struct MemoryRegion {
  uint64_t guest_address;
  uint64_t size;
  uint64_t user_address;  // where ember maps it: rings are named by these
  uint64_t mmap_offset;   // into the region's file descriptor
};

struct VringAddresses {
  uint32_t index;
  uint64_t descriptor_table;  // ember's virtual addresses, as the memory table maps them
  uint64_t used_ring;
  uint64_t available_ring;
};

// A request, ready to write: header and payload.
struct Message {
  Request              request;
  std::vector<uint8_t> bytes;
};

Message get_request(Request request);  // a request with no payload (GET_FEATURES, SET_OWNER, ...)
Message u64_request(Request request, uint64_t value, bool need_reply = false);
Message vring_state(Request request, uint32_t index, uint32_t value, bool need_reply = false);
Message vring_addresses(const VringAddresses& addresses, bool need_reply = false);
Message memory_table(std::span<const MemoryRegion> regions, bool need_reply = false);

// Why a backend's reply was refused.
enum class ReplyFault {
  kShort,            // fewer bytes than the header or its payload
  kBadVersion,       // flags do not say version 1
  kNotAReply,        // the reply flag is clear
  kWrongRequest,     // it answers another request than the one sent
  kWrongSize,        // the payload is not the size this reply has
};
using ReplyError = CodedError<ReplyFault>;

// The payload of a reply to `sent` from `bytes` (the whole message as
// read), which must be exactly `payload_size` bytes.
Result<std::span<const uint8_t>, ReplyError> parse_reply(Request sent, std::span<const uint8_t> bytes, size_t payload_size);
// The u64 a GET_FEATURES, GET_PROTOCOL_FEATURES or GET_QUEUE_NUM reply
// carries, or the status of an ack (0: success).
Result<uint64_t, ReplyError> parse_u64_reply(Request sent, std::span<const uint8_t> bytes);
// GET_VRING_BASE's reply: the ring's index and its next available index.
struct VringState {
  uint32_t index;
  uint32_t value;
};
Result<VringState, ReplyError> parse_vring_state_reply(Request sent, std::span<const uint8_t> bytes);

}  // namespace ember::virtio::vhost_user
