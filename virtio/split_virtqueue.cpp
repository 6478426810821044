#include "virtio/split_virtqueue.h"

#include <atomic>
#include <bit>
#include <limits>
#include <string>

namespace ember::virtio {
namespace {

// virtq_desc.flags (§2.7.5).
constexpr uint16_t kDescNext = 1;
constexpr uint16_t kDescWrite = 2;
constexpr uint16_t kDescIndirect = 4;
// virtq_avail.flags (§2.7.6).
constexpr uint16_t kAvailNoInterrupt = 1;

constexpr uint64_t kDescriptorSize = 16;

uint16_t load16(const uint8_t* at) { return __atomic_load_n(reinterpret_cast<const uint16_t*>(at), __ATOMIC_ACQUIRE); }
void     store16(uint8_t* at, uint16_t value) { __atomic_store_n(reinterpret_cast<uint16_t*>(at), value, __ATOMIC_RELEASE); }

// §2.7.10: whether `event` lies in the window of used entries [old, new).
bool need_event(uint16_t event, uint16_t new_index, uint16_t old_index) {
  return static_cast<uint16_t>(new_index - event - 1) < static_cast<uint16_t>(new_index - old_index);
}

}  // namespace

Result<SplitVirtqueue, WalkerError> SplitVirtqueue::create(const GuestMemory& memory, const QueueLayout& layout, QueueFeatures features) {
  const uint64_t n = layout.size;
  if (n == 0 || n > kMaxSize || !std::has_single_bit(n)) {
    return WalkerError{WalkerFault::kQueueSize, "queue size " + std::to_string(n) + " is not a power of two from 1 to 32768"};
  }
  // §2.7 "Alignment and size" table.
  struct Part {
    const char* name;
    uint64_t    address, bytes, alignment;
  };
  const Part parts[] = {
      {"descriptor table", layout.descriptor_table, kDescriptorSize * n, 16},
      {"available ring", layout.available_ring, 6 + 2 * n, 2},
      {"used ring", layout.used_ring, 6 + 8 * n, 4},
  };
  std::span<uint8_t> views[3];
  for (size_t i = 0; i < 3; ++i) {
    if (parts[i].address % parts[i].alignment != 0) {
      return WalkerError{WalkerFault::kRingMisaligned, std::string("the ") + parts[i].name + " is not " + std::to_string(parts[i].alignment) + "-byte aligned"};
    }
    views[i] = memory.slice(parts[i].address, parts[i].bytes);
    if (views[i].empty()) return WalkerError{WalkerFault::kRingOutsideMemory, std::string("the ") + parts[i].name + " is not inside guest RAM"};
  }
  return SplitVirtqueue{memory, layout.size, features, views[0], views[1], views[2]};
}

uint16_t SplitVirtqueue::available_index() const { return load16(available_.data() + 2); }

SplitVirtqueue::Descriptor SplitVirtqueue::descriptor(std::span<const uint8_t> table, uint16_t index) const {
  const uint8_t* at = table.data() + kDescriptorSize * index;
  Descriptor d;
  std::memcpy(&d.address, at, 8);
  std::memcpy(&d.length, at + 8, 4);
  std::memcpy(&d.flags, at + 12, 2);
  std::memcpy(&d.next, at + 14, 2);
  return d;
}

Result<std::optional<DescriptorChain>, WalkerError> SplitVirtqueue::pop() {
  if (broken_) return WalkerError{WalkerFault::kBrokenEarlier, "the queue was broken earlier and needs a reset"};
  const uint16_t available = available_index();
  const uint16_t pending = static_cast<uint16_t>(available - next_available_);
  if (pending == 0) return std::optional<DescriptorChain>{};
  if (pending > size_) {
    broken_ = true;
    return WalkerError{WalkerFault::kAvailableIndexJump, "avail.idx moved " + std::to_string(pending) + " entries ahead, more than the queue size " + std::to_string(size_)};
  }
  // The acquire load of avail.idx orders the ring entry read after it (§2.7.13.3.1).
  const uint16_t head = load16(available_.data() + 4 + 2 * (next_available_ % size_));
  DescriptorChain chain;
  if (auto walked = walk(head, chain); !walked) {
    broken_ = true;
    return walked.error();
  }
  ++next_available_;
  return std::optional<DescriptorChain>{std::move(chain)};
}

SplitVirtqueue::Walked SplitVirtqueue::walk(uint16_t head, DescriptorChain& chain) const {
  if (head >= size_) return WalkerError{WalkerFault::kIndexOutsideQueue, "head index " + std::to_string(head) + " is outside the queue of " + std::to_string(size_)};
  chain.head = head;
  uint64_t total = 0;
  bool     seen_writable = false;
  uint16_t index = head;
  // A chain visits at most `size` descriptors (§2.7.5.2), which also ends
  // any cycle the driver built.
  for (uint32_t hops = 1;; ++hops) {
    if (hops > size_) return WalkerError{WalkerFault::kChainLoop, "the descriptor chain from head " + std::to_string(head) + " is longer than the queue (a loop?)"};
    const Descriptor d = descriptor(descriptors_, index);
    if ((d.flags & ~(kDescNext | kDescWrite | kDescIndirect)) != 0) {
      return WalkerError{WalkerFault::kUnknownFlags, "descriptor " + std::to_string(index) + " has unknown flags " + std::to_string(d.flags)};
    }
    if ((d.flags & kDescIndirect) != 0) {
      // §2.7.5.3.1: not without the feature, not with NEXT; and, as in every
      // driver we know, only as the whole chain.
      if (!features_.indirect_descriptors) return WalkerError{WalkerFault::kIndirectNotNegotiated, "an indirect descriptor arrived, but the feature was not negotiated"};
      if ((d.flags & kDescNext) != 0 || index != head) return WalkerError{WalkerFault::kIndirectNotAlone, "an indirect descriptor must be the only one in its chain"};
      return walk_indirect(d, chain, total);
    }
    if (auto added = add_buffer(d, seen_writable, chain, total); !added) return added;
    if ((d.flags & kDescNext) == 0) return {};
    if (d.next >= size_) return WalkerError{WalkerFault::kIndexOutsideQueue, "next index " + std::to_string(d.next) + " is outside the queue of " + std::to_string(size_)};
    index = d.next;
  }
}

SplitVirtqueue::Walked SplitVirtqueue::walk_indirect(const Descriptor& indirect, DescriptorChain& chain, uint64_t& total) const {
  if (indirect.length == 0 || indirect.length % kDescriptorSize != 0) {
    return WalkerError{WalkerFault::kIndirectTableSize, "an indirect table of " + std::to_string(indirect.length) + " bytes is not a whole number of descriptors"};
  }
  const uint64_t count = indirect.length / kDescriptorSize;
  if (count > kMaxSize) return WalkerError{WalkerFault::kIndirectTableSize, "an indirect table holds more than 32768 descriptors"};
  const std::span<uint8_t> table = memory_->slice(indirect.address, indirect.length);
  if (table.empty()) return WalkerError{WalkerFault::kBufferOutsideMemory, "an indirect table is not inside guest RAM"};
  bool     seen_writable = false;
  uint16_t index = 0;
  for (uint64_t hops = 1;; ++hops) {
    if (hops > count) return WalkerError{WalkerFault::kChainLoop, "the indirect chain is longer than its table (a loop?)"};
    const Descriptor d = descriptor(table, index);
    if ((d.flags & ~(kDescNext | kDescWrite)) != 0) {
      return WalkerError{WalkerFault::kUnknownFlags, "indirect descriptor " + std::to_string(index) + " has unknown or nested-indirect flags " + std::to_string(d.flags)};
    }
    if (auto added = add_buffer(d, seen_writable, chain, total); !added) return added;
    if ((d.flags & kDescNext) == 0) return {};
    if (d.next >= count) return WalkerError{WalkerFault::kIndexOutsideQueue, "indirect next index " + std::to_string(d.next) + " is outside its table"};
    index = d.next;
  }
}

SplitVirtqueue::Walked SplitVirtqueue::add_buffer(const Descriptor& d, bool& seen_writable, DescriptorChain& chain, uint64_t& total) const {
  const bool writable = (d.flags & kDescWrite) != 0;
  if (!writable && seen_writable) return WalkerError{WalkerFault::kReadableAfterWritable, "a readable buffer follows a writable one (§2.7.4.2)"};
  seen_writable = seen_writable || writable;
  total += d.length;
  if (total > std::numeric_limits<uint32_t>::max()) return WalkerError{WalkerFault::kChainTooLarge, "the chain's buffers add up to more than 4 GiB"};
  if (d.length == 0) return {};  // nothing to read or write; allowed, and nothing to check
  const std::span<uint8_t> view = memory_->slice(d.address, d.length);
  if (view.empty()) return WalkerError{WalkerFault::kBufferOutsideMemory, "a buffer of " + std::to_string(d.length) + " bytes at guest address " + std::to_string(d.address) + " is not inside guest RAM"};
  if (writable) chain.add_writable(view);
  else chain.add_readable(view);
  return {};
}

void SplitVirtqueue::push(uint16_t head, uint32_t written) {
  const UsedElement element{head, written};
  push(std::span{&element, 1});
}

void SplitVirtqueue::push(std::span<const UsedElement> elements) {
  uint16_t index = next_used_;
  for (const auto& [head, written] : elements) {
    uint8_t* element = used_.data() + 4 + 8 * (index % size_);
    const uint32_t id = head;
    std::memcpy(element, &id, 4);
    std::memcpy(element + 4, &written, 4);
    ++index;
  }
  // The elements must be visible before the index that publishes them
  // (§2.7.8), and all of them at once: a driver reading a merged receive
  // buffer expects every part of it to be there (§5.1.6.4.2).
  next_used_ = index;
  store16(used_.data() + 2, next_used_);
}

void SplitVirtqueue::give_back(uint16_t count) {
  // The ring entries are still the driver's (it may not touch a buffer it
  // made available until it is used, §2.7.13), so the next pop reads and
  // walks them again.
  next_available_ = static_cast<uint16_t>(next_available_ - count);
}

bool SplitVirtqueue::needs_interrupt() {
  // The used idx store must be ordered before reading the driver's wishes,
  // or a driver going to sleep could miss this interrupt (§2.7.10).
  std::atomic_thread_fence(std::memory_order_seq_cst);
  const uint16_t old_used = signalled_used_;
  if (old_used == next_used_) return false;
  bool wanted;
  if (features_.event_index) {
    const uint16_t used_event = load16(available_.data() + 4 + 2 * size_);
    wanted = need_event(used_event, next_used_, old_used);
  } else {
    wanted = (load16(available_.data()) & kAvailNoInterrupt) == 0;
  }
  signalled_used_ = next_used_;
  return wanted;
}

bool SplitVirtqueue::rearm_notification() {
  if (features_.event_index) store16(used_.data() + 4 + 8 * size_, next_available_);
  std::atomic_thread_fence(std::memory_order_seq_cst);
  return !broken_ && available_index() != next_available_;
}

}  // namespace ember::virtio
