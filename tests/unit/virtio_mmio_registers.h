// A driver's view of a virtio-mmio transport's registers in unit tests:
// 32-bit register access, feature negotiation and queue set-up as a guest
// driver does them (virtio 1.2 §3.1.1, §4.2.3).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <thread>

#include "bus/device.h"
#include "virtio/split_virtqueue.h"

namespace ember::virtio::testing {

class MmioRegisters {
 public:
  explicit MmioRegisters(Device& transport) : transport_{transport} {}

  uint32_t read32(uint64_t offset) {
    std::array<uint8_t, 4> data{};
    transport_.read({offset, offset, 0}, data);
    uint32_t value;
    std::memcpy(&value, data.data(), 4);
    return value;
  }
  void write32(uint64_t offset, uint32_t value) {
    std::array<uint8_t, 4> data;
    std::memcpy(data.data(), &value, 4);
    transport_.write({offset, offset, 0}, data);
  }
  void negotiate(uint64_t features) {
    write32(0x070, 1);
    write32(0x070, 1 | 2);
    write32(0x024, 0);
    write32(0x020, static_cast<uint32_t>(features));
    write32(0x024, 1);
    write32(0x020, static_cast<uint32_t>(features >> 32));
    write32(0x070, 1 | 2 | 8);
  }
  void set_up_queue(uint16_t index, const QueueLayout& layout) {
    write32(0x030, index);
    write32(0x038, layout.size);
    write32(0x080, static_cast<uint32_t>(layout.descriptor_table));
    write32(0x084, static_cast<uint32_t>(layout.descriptor_table >> 32));
    write32(0x090, static_cast<uint32_t>(layout.available_ring));
    write32(0x094, 0);
    write32(0x0a0, static_cast<uint32_t>(layout.used_ring));
    write32(0x0a4, 0);
    write32(0x044, 1);
  }
  void driver_ok() { write32(0x070, 1 | 2 | 8 | 4); }
  void notify(uint16_t queue) { write32(0x050, queue); }

 private:
  Device& transport_;
};

// Polls `done` for up to 5 s: the transport's worker serves asynchronously.
inline bool wait_for(const std::function<bool()>& done,
                     std::chrono::milliseconds patience = std::chrono::milliseconds{5000}) {
  using namespace std::chrono_literals;
  for (auto until = std::chrono::steady_clock::now() + patience; std::chrono::steady_clock::now() < until;) {
    if (done()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return done();
}

}  // namespace ember::virtio::testing
