// ember's boot timer (port 0xf5): the project's init writes it as it starts,
// and ember timestamps the first write relative to the start of the run, so
// boot-to-init time can be reported (--report json) and tracked by CI.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>

#include "base/clock.h"
#include "bus/device.h"
#include "platform/address_map.h"

namespace ember {

class BootTimer final : public Device {
 public:
  static constexpr uint16_t kPort = platform::kBootTimerPort;

  void start() { started_.store(monotonic_ns(), std::memory_order_relaxed); }

  std::string_view name() const override { return "boot-timer"; }
  void read(const Access&, std::span<uint8_t>) override {}
  void write(const Access&, std::span<const uint8_t>) override {
    const uint64_t elapsed = monotonic_ns() - started_.load(std::memory_order_relaxed);
    uint64_t unset = 0;
    init_reached_.compare_exchange_strong(unset, elapsed == 0 ? 1 : elapsed);  // the first write counts
  }

  // Nanoseconds from the start of the run to init's first write, if any.
  std::optional<uint64_t> init_reached_ns() const {
    const uint64_t value = init_reached_.load();
    return value == 0 ? std::nullopt : std::optional<uint64_t>{value};
  }

 private:
  std::atomic<uint64_t> started_{0};
  std::atomic<uint64_t> init_reached_{0};
};

}  // namespace ember
