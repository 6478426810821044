// A split virtqueue (virtio 1.2 §2.7) as the device side sees it, with the
// one descriptor-chain walker every device uses.
//
// Everything in the rings is guest-controlled, so the walker trusts nothing
// (tests/HOSTILE-INPUTS.md, the descriptor and ring items): head and next
// indices are bounded by the queue (or indirect table) size, a chain may not visit more descriptors than there
// are (which also ends cycles), unknown flags and unnegotiated indirect
// descriptors are refused, readable buffers must come before writable ones,
// the chain's total length must fit the used ring's 32-bit length, and every
// buffer must lie inside guest RAM (GuestMemory). The driver advancing
// avail.idx by more than the queue size is refused too.
//
// A refused chain breaks the queue: pop() returns the error and the
// transport sets DEVICE_NEEDS_RESET (§2.1.2), as a ring whose driver broke
// the rules cannot be trusted further.
//
// Used by one thread at a time (the device's worker); not thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "base/result.h"
#include "memory/guest_memory.h"
#include "virtio/descriptor_chain.h"

namespace ember::virtio {

// Where the driver put a queue and how big it is (virtio-mmio QueueNum,
// QueueDesc, QueueDriver, QueueDevice).
struct QueueLayout {
  uint16_t size = 0;
  uint64_t descriptor_table = 0;
  uint64_t available_ring = 0;  // the "driver area"
  uint64_t used_ring = 0;       // the "device area"
};

struct QueueFeatures {
  bool event_index = false;          // VIRTIO_F_EVENT_IDX negotiated (§2.7.10)
  bool indirect_descriptors = false; // VIRTIO_F_INDIRECT_DESC negotiated (§2.7.5.3)
};

// What the driver got wrong in a queue's layout or a chain it made
// available (virtio 1.2 §2.7). Each one breaks the queue until a reset.
enum class WalkerFault {
  kQueueSize,            // not a power of two from 1 to 32768
  kRingMisaligned,       // a ring part off its §2.7 alignment
  kRingOutsideMemory,    // a ring part not inside guest RAM
  kBrokenEarlier,        // the queue broke before; it needs a reset
  kAvailableIndexJump,   // avail.idx moved more than the queue size ahead
  kIndexOutsideQueue,    // a head or next index past the queue (or an indirect table)
  kChainLoop,            // a chain longer than its table: a loop
  kUnknownFlags,         // flags the walker does not know, or a nested indirect
  kIndirectNotNegotiated,
  kIndirectNotAlone,     // an indirect descriptor with NEXT, or not the head
  kIndirectTableSize,    // not a whole number of descriptors, or above 32768
  kReadableAfterWritable,// §2.7.4.2
  kChainTooLarge,        // buffers adding up to more than 4 GiB
  kBufferOutsideMemory,  // a buffer or indirect table not inside guest RAM
};
using WalkerError = CodedError<WalkerFault>;

class SplitVirtqueue final {
 public:
  static constexpr uint16_t kMaxSize = 32768;  // §2.7

  // Checks the layout (size a power of two up to kMaxSize, alignment of each
  // part per §2.7 table, every part inside RAM) and binds the queue to it.
  static Result<SplitVirtqueue, WalkerError> create(const GuestMemory& memory, const QueueLayout& layout, QueueFeatures features);

  // The next chain the driver made available; nothing when the ring is empty;
  // a WalkerError when the driver broke the ring's rules.
  Result<std::optional<DescriptorChain>, WalkerError> pop();

  // Returns a chain to the driver with the number of bytes written into it.
  void push(uint16_t head, uint32_t written);
  // Returns several chains, published together by one used.idx update.
  void push(std::span<const UsedElement> elements);

  // The last `count` chains pop() returned were not used: the next pop()
  // returns them again. For a device that took buffers and then found it
  // could not fill them yet (a receive queue with too few for a packet).
  // `count` must not exceed the number popped since the last push.
  void give_back(uint16_t count);

  // Whether the driver wants an interrupt for what was pushed since the last
  // time this said yes (§2.7.7.2, §2.7.10: used_event or NO_INTERRUPT).
  bool needs_interrupt();

  // With event index: tells the driver to notify once it makes anything past
  // what was popped available (§2.7.10), then reports whether something
  // arrived meanwhile, so the device can go on without a lost notification.
  bool rearm_notification();

  uint16_t size() const { return size_; }
  // Where the device is in the rings (the rest of a ring lives in guest
  // RAM): what a snapshot saves and a restore puts back (issue 20).
  struct Position {
    uint16_t next_available = 0;
    uint16_t next_used = 0;
    uint16_t signalled_used = 0;
    bool     broken = false;
  };
  Position position() const { return {next_available_, next_used_, signalled_used_, broken_}; }
  void     set_position(const Position& position) {
    next_available_ = position.next_available;
    next_used_ = position.next_used;
    signalled_used_ = position.signalled_used;
    broken_ = position.broken;
  }

 private:
  SplitVirtqueue(const GuestMemory& memory, uint16_t size, QueueFeatures features, std::span<uint8_t> descriptors,
                 std::span<uint8_t> available, std::span<uint8_t> used)
      : memory_{&memory}, size_{size}, features_{features}, descriptors_{descriptors}, available_{available}, used_{used} {}

  struct Descriptor {
    uint64_t address;
    uint32_t length;
    uint16_t flags;
    uint16_t next;
  };
  uint16_t   available_index() const;
  Descriptor descriptor(std::span<const uint8_t> table, uint16_t index) const;
  using Walked = Result<void, WalkerError>;
  Walked     walk(uint16_t head, DescriptorChain& chain) const;
  Walked     walk_indirect(const Descriptor& indirect, DescriptorChain& chain, uint64_t& total) const;
  Walked     add_buffer(const Descriptor& descriptor, bool& seen_writable, DescriptorChain& chain, uint64_t& total) const;

  const GuestMemory* memory_;
  uint16_t           size_;
  QueueFeatures      features_;
  std::span<uint8_t> descriptors_;  // 16 * size bytes
  std::span<uint8_t> available_;    // flags, idx, ring[size], used_event
  std::span<uint8_t> used_;         // flags, idx, ring[size] of {id, len}, avail_event
  uint16_t           next_available_ = 0;  // the device's position in the available ring
  uint16_t           next_used_ = 0;       // the used ring's idx as the device last wrote it
  uint16_t           signalled_used_ = 0;  // used idx at the last interrupt
  bool               broken_ = false;
};

}  // namespace ember::virtio
