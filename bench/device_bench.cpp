// Device register costs on the exit path: what a guest's LAPIC access (xAPIC
// MMIO register read/write, and the EOI every interrupt ends with) and a UART
// transmit (THR write to a console that discards) cost ember once the exit
// has reached the device.
#include <benchmark/benchmark.h>

#include "console/console_output.h"
#include "devices/uart16550.h"
#include "irq/interrupt_line.h"
#include "irq/interrupt_router.h"
#include "irq/lapic.h"

namespace {

class NoKick final : public ember::Kickable {
 public:
  void kick() override {}
};

class NoEoi final : public ember::EoiListener {
 public:
  void end_of_interrupt(uint8_t) override {}
};

class NoLine final : public ember::InterruptLine {
 public:
  void set_level(bool) override {}
};

constexpr uint32_t kTpr = 0x80, kEoi = 0xb0, kSvr = 0xf0;

// One LAPIC behind a router with one CPU, as the VCPU thread owns it.
struct LapicFixture {
  LapicFixture() {
    router.attach({&mailbox, &addressing, &kick});
    lapic.write_register(kSvr, 0x1ff);
  }
  ember::InjectionMailbox mailbox;
  ember::ApicAddressing   addressing;
  NoKick                  kick;
  NoEoi                   eoi;
  ember::InterruptRouter  router;
  ember::Lapic            lapic{0, router, eoi, addressing, [] { return uint64_t{0}; }};
};

void lapic_register_read(benchmark::State& state) {
  LapicFixture fixture;
  for (auto _ : state) benchmark::DoNotOptimize(fixture.lapic.read_register(kTpr));
}
BENCHMARK(lapic_register_read);

void lapic_tpr_write(benchmark::State& state) {
  LapicFixture fixture;
  uint32_t value = 0;
  for (auto _ : state) fixture.lapic.write_register(kTpr, (value++ & 0xf) << 4);
}
BENCHMARK(lapic_tpr_write);

void lapic_eoi(benchmark::State& state) {
  LapicFixture fixture;
  for (auto _ : state) fixture.lapic.write_register(kEoi, 0);
}
BENCHMARK(lapic_eoi);

void uart_transmit(benchmark::State& state) {
  ember::NullConsoleOutput output;
  NoLine irq;
  ember::Uart16550 uart{output, irq};
  const uint8_t byte = 'x';
  for (auto _ : state) uart.write(ember::Access{0, 0x3f8, 0}, std::span{&byte, 1});
}
BENCHMARK(uart_transmit);

}  // namespace
