#include "virtio/vhost_user_message.h"

#include <cstring>

namespace ember::virtio::vhost_user {
namespace {

template <class T>
void append(std::vector<uint8_t>& bytes, const T& value) {
  const auto* raw = reinterpret_cast<const uint8_t*>(&value);
  bytes.insert(bytes.end(), raw, raw + sizeof value);
}

Message with_payload(Request request, const std::vector<uint8_t>& payload, bool need_reply) {
  Message message{request, {}};
  append(message.bytes, static_cast<uint32_t>(request));
  append(message.bytes, kVersion | (need_reply ? kNeedReplyFlag : 0u));
  append(message.bytes, static_cast<uint32_t>(payload.size()));
  message.bytes.insert(message.bytes.end(), payload.begin(), payload.end());
  return message;
}

uint32_t u32_at(std::span<const uint8_t> bytes, size_t offset) {
  uint32_t value;
  std::memcpy(&value, bytes.data() + offset, sizeof value);
  return value;
}

}  // namespace

const char* request_name(Request request) {
  switch (request) {
    case Request::kGetFeatures: return "GET_FEATURES";
    case Request::kSetFeatures: return "SET_FEATURES";
    case Request::kSetOwner: return "SET_OWNER";
    case Request::kSetMemTable: return "SET_MEM_TABLE";
    case Request::kSetVringNum: return "SET_VRING_NUM";
    case Request::kSetVringAddr: return "SET_VRING_ADDR";
    case Request::kSetVringBase: return "SET_VRING_BASE";
    case Request::kGetVringBase: return "GET_VRING_BASE";
    case Request::kSetVringKick: return "SET_VRING_KICK";
    case Request::kSetVringCall: return "SET_VRING_CALL";
    case Request::kGetProtocolFeatures: return "GET_PROTOCOL_FEATURES";
    case Request::kSetProtocolFeatures: return "SET_PROTOCOL_FEATURES";
    case Request::kGetQueueNum: return "GET_QUEUE_NUM";
    case Request::kSetVringEnable: return "SET_VRING_ENABLE";
  }
  return "an unknown request";
}

Message get_request(Request request) { return with_payload(request, {}, false); }

Message u64_request(Request request, uint64_t value, bool need_reply) {
  std::vector<uint8_t> payload;
  append(payload, value);
  return with_payload(request, payload, need_reply);
}

Message vring_state(Request request, uint32_t index, uint32_t value, bool need_reply) {
  std::vector<uint8_t> payload;
  append(payload, index);
  append(payload, value);
  return with_payload(request, payload, need_reply);
}

Message vring_addresses(const VringAddresses& addresses, bool need_reply) {
  // struct vhost_vring_addr: index, flags, then desc, used, avail, log.
  std::vector<uint8_t> payload;
  append(payload, addresses.index);
  append(payload, uint32_t{0});  // no VHOST_VRING_F_LOG: ember does not log dirty pages
  append(payload, addresses.descriptor_table);
  append(payload, addresses.used_ring);
  append(payload, addresses.available_ring);
  append(payload, uint64_t{0});
  return with_payload(Request::kSetVringAddr, payload, need_reply);
}

Message memory_table(std::span<const MemoryRegion> regions, bool need_reply) {
  std::vector<uint8_t> payload;
  append(payload, static_cast<uint32_t>(regions.size()));
  append(payload, uint32_t{0});  // padding
  for (const MemoryRegion& region : regions) {
    append(payload, region.guest_address);
    append(payload, region.size);
    append(payload, region.user_address);
    append(payload, region.mmap_offset);
  }
  return with_payload(Request::kSetMemTable, payload, need_reply);
}

Result<std::span<const uint8_t>, ReplyError> parse_reply(Request sent, std::span<const uint8_t> bytes, size_t payload_size) {
  const std::string what = std::string("the reply to ") + request_name(sent);
  if (bytes.size() < kHeaderSize) return ReplyError{ReplyFault::kShort, what + " is shorter than a message header"};
  const uint32_t request = u32_at(bytes, 0), flags = u32_at(bytes, 4), size = u32_at(bytes, 8);
  if ((flags & kVersionMask) != kVersion) {
    return ReplyError{ReplyFault::kBadVersion, what + " has protocol version " + std::to_string(flags & kVersionMask) + ", not 1"};
  }
  if ((flags & kReplyFlag) == 0) return ReplyError{ReplyFault::kNotAReply, what + " does not have the reply flag"};
  if (request != static_cast<uint32_t>(sent)) {
    return ReplyError{ReplyFault::kWrongRequest, what + " answers request " + std::to_string(request)};
  }
  if (size != payload_size) {
    return ReplyError{ReplyFault::kWrongSize,
                      what + " carries " + std::to_string(size) + " bytes, not " + std::to_string(payload_size)};
  }
  if (bytes.size() - kHeaderSize < size) {
    return ReplyError{ReplyFault::kShort, what + " ends inside its payload"};
  }
  return bytes.subspan(kHeaderSize, size);
}

Result<uint64_t, ReplyError> parse_u64_reply(Request sent, std::span<const uint8_t> bytes) {
  auto payload = parse_reply(sent, bytes, sizeof(uint64_t));
  if (!payload) return payload.error();
  uint64_t value;
  std::memcpy(&value, payload->data(), sizeof value);
  return value;
}

Result<VringState, ReplyError> parse_vring_state_reply(Request sent, std::span<const uint8_t> bytes) {
  auto payload = parse_reply(sent, bytes, 2 * sizeof(uint32_t));
  if (!payload) return payload.error();
  return VringState{u32_at(*payload, 0), u32_at(*payload, 4)};
}

}  // namespace ember::virtio::vhost_user
