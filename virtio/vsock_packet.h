// virtio-vsock packets (virtio 1.2 §5.10.6): a 44-byte little-endian header
// and, for RW packets, its payload. parse_packet_header is the one place a
// guest's transmit header is checked.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.h"

namespace ember::virtio {

#pragma pack(push, 1)
struct VsockHeader {
  uint64_t src_cid;
  uint64_t dst_cid;
  uint32_t src_port;
  uint32_t dst_port;
  uint32_t len;
  uint16_t type;
  uint16_t op;
  uint32_t flags;
  uint32_t buf_alloc;
  uint32_t fwd_cnt;
};
#pragma pack(pop)
static_assert(sizeof(VsockHeader) == 44);

inline constexpr uint64_t kVsockHostCid = 2;       // VMADDR_CID_HOST
inline constexpr uint16_t kVsockTypeStream = 1;
inline constexpr uint32_t kVsockMaxPayload = 64 * 1024;  // Linux's VIRTIO_VSOCK_MAX_PKT_BUF_SIZE

// §5.10.6: operations, and SHUTDOWN's flags.
enum class VsockOp : uint16_t {
  kRequest = 1,
  kResponse = 2,
  kReset = 3,
  kShutdown = 4,
  kReadWrite = 5,
  kCreditUpdate = 6,
  kCreditRequest = 7,
};
inline constexpr uint32_t kShutdownReceive = 1, kShutdownSend = 2;

// Checks a header the guest sent: from its own CID to the host, a stream
// packet, a known operation, a payload only on RW and no larger than
// kVsockMaxPayload, and no more payload than the chain carries.
Result<VsockHeader> parse_packet_header(const VsockHeader& header, uint64_t guest_cid, uint32_t payload_available);

}  // namespace ember::virtio
