// Bus dispatch cost: the lookup every PIO/MMIO exit pays before a device sees
// the access, with 10 and 100 devices on the bus.
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "bus/bus.h"

namespace {

class CountingDevice final : public ember::Device {
 public:
  std::string_view name() const override { return "counting"; }
  void read(const ember::Access&, std::span<uint8_t> data) override { data[0] = static_cast<uint8_t>(++reads); }
  void write(const ember::Access&, std::span<const uint8_t>) override { ++writes; }
  uint64_t reads = 0, writes = 0;
};

// A bus with `count` devices, 0x100 bytes each, 0x1000 apart.
struct PopulatedBus {
  PopulatedBus(uint64_t count, benchmark::State& state) {
    for (uint64_t i = 0; i < count; ++i) {
      devices.push_back(std::make_unique<CountingDevice>());
      if (!bus.insert(0x1000 * (i + 1), 0x100, *devices.back())) state.SkipWithError("insert failed");
    }
  }
  ember::Bus                                   bus{"bench"};
  std::vector<std::unique_ptr<CountingDevice>> devices;
};

void bus_read(benchmark::State& state) {
  const auto devices = static_cast<uint64_t>(state.range(0));
  PopulatedBus populated{devices, state};
  const ember::Bus& bus = populated.bus;
  uint8_t byte = 0;
  uint64_t i = 0;
  for (auto _ : state) {
    const uint64_t address = 0x1000 * ((i++ % devices) + 1) + 4;
    benchmark::DoNotOptimize(bus.read(address, std::span{&byte, 1}, 0));
  }
}
BENCHMARK(bus_read)->Arg(10)->Arg(100);

void bus_write(benchmark::State& state) {
  const auto devices = static_cast<uint64_t>(state.range(0));
  PopulatedBus populated{devices, state};
  const ember::Bus& bus = populated.bus;
  const uint8_t byte = 0x55;
  uint64_t i = 0;
  for (auto _ : state) {
    const uint64_t address = 0x1000 * ((i++ % devices) + 1) + 4;
    benchmark::DoNotOptimize(bus.write(address, std::span{&byte, 1}, 0));
  }
}
BENCHMARK(bus_write)->Arg(10)->Arg(100);

}  // namespace
