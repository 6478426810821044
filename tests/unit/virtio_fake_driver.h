// A driver's side of a split virtqueue in test memory: writes descriptors
// and the available ring as a guest driver would, reads the used ring.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "memory/guest_memory.h"
#include "virtio/split_virtqueue.h"

namespace ember::virtio::testing {

inline constexpr uint16_t kNext = 1, kWrite = 2, kIndirect = 4;

class FakeDriver {
 public:
  FakeDriver(const GuestMemory& memory, uint16_t size, uint64_t base = 0x10000)
      : memory_{memory}, layout_{size, base, base + 0x10000, base + 0x20000} {}

  const QueueLayout& layout() const { return layout_; }

  void set_descriptor(uint16_t index, uint64_t address, uint32_t length, uint16_t flags, uint16_t next = 0,
                      uint64_t table = 0) const {
    const uint64_t at = (table != 0 ? table : layout_.descriptor_table) + 16ull * index;
    must(memory_.write_object(at, address));
    must(memory_.write_object(at + 8, length));
    must(memory_.write_object(at + 12, flags));
    must(memory_.write_object(at + 14, next));
  }
  // Puts `head` in the next available slot and publishes it.
  void make_available(uint16_t head) {
    must(memory_.write_object(layout_.available_ring + 4 + 2ull * (avail_index_ % layout_.size), head));
    set_available_index(static_cast<uint16_t>(avail_index_ + 1));
  }
  void set_available_index(uint16_t index) {
    avail_index_ = index;
    store16(layout_.available_ring + 2, index);
  }
  void set_available_flags(uint16_t flags) const { store16(layout_.available_ring, flags); }
  void set_used_event(uint16_t value) const { store16(layout_.available_ring + 4 + 2ull * layout_.size, value); }
  uint16_t used_index() const { return load16(layout_.used_ring + 2); }
  uint16_t avail_event() const { return load16(layout_.used_ring + 4 + 8ull * layout_.size); }
  uint32_t used_id(uint16_t slot) const { return *memory_.read_object<uint32_t>(layout_.used_ring + 4 + 8ull * slot); }
  uint32_t used_length(uint16_t slot) const { return *memory_.read_object<uint32_t>(layout_.used_ring + 8 + 8ull * slot); }

 private:
  static void must(bool ok) {
    if (!ok) std::abort();
  }
  // The ring's index and event fields, which the device reads while the
  // driver runs: stored with release and loaded with acquire, as a driver's
  // barriers order them (virtio 1.2 §2.7.13), so tests running the device on
  // its worker thread are race-free under ThreadSanitizer too.
  uint16_t* field(uint64_t address) const {
    const auto bytes = memory_.slice(address, 2);
    must(bytes.size() == 2);
    return reinterpret_cast<uint16_t*>(bytes.data());
  }
  void     store16(uint64_t address, uint16_t value) const { __atomic_store_n(field(address), value, __ATOMIC_RELEASE); }
  uint16_t load16(uint64_t address) const { return __atomic_load_n(field(address), __ATOMIC_ACQUIRE); }
  const GuestMemory& memory_;
  QueueLayout        layout_;
  uint16_t           avail_index_ = 0;
};

}  // namespace ember::virtio::testing
