#include "devices/pit8254.h"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <chrono>
#include <thread>

#include "base/clock.h"

namespace ember {
namespace {

class CountingLine final : public InterruptLine {
 public:
  // Called from the PIT's thread while the test reads: both fields atomic.
  void set_level(bool asserted) override {
    if (asserted && !level.exchange(asserted)) rising.fetch_add(1);
    level = asserted;
  }
  std::atomic<int>  rising{0};
  std::atomic<bool> level{false};
};

// One PIT tick is 1e9 / 1193182 ns, about 838.1 ns.
constexpr uint64_t ticks_ns(uint64_t ticks) { return ticks * 1'000'000'000 / Pit8254::kFrequencyHz; }

class Pit8254Test : public ::testing::Test {
 protected:
  uint8_t in(uint16_t port) {
    uint8_t value = 0;
    pit.read(Access{port - 0x40u, port, 0}, std::span{&value, 1});
    return value;
  }
  void out(uint16_t port, uint8_t value) { pit.write(Access{port - 0x40u, port, 0}, std::span{&value, 1}); }
  uint16_t read_count(uint16_t port) {
    const uint8_t low = in(port);
    return static_cast<uint16_t>(low | (in(port) << 8));
  }

  std::atomic<uint64_t> now{1'000'000'000'000};
  CountingLine          irq0;
  Pit8254               pit{irq0, [this] { return now.load(); }};
};

TEST_F(Pit8254Test, Mode0CountsDownAndRaisesIrq0OnceAtTerminalCount) {
  out(0x43, 0x30);  // channel 0, low then high byte, mode 0
  out(0x40, 0xe8);
  out(0x40, 0x03);  // 1000 ticks
  EXPECT_EQ(pit.next_irq0(), now.load() + ticks_ns(1000));
  now += ticks_ns(400);
  out(0x43, 0x00);  // latch channel 0
  const uint16_t latched = read_count(0x40);
  EXPECT_GE(latched, 599);
  EXPECT_LE(latched, 601);
}

TEST_F(Pit8254Test, Mode2SchedulesIrq0EveryPeriod) {
  out(0x43, 0x34);  // channel 0, lo/hi, mode 2
  out(0x40, 0xe8);
  out(0x40, 0x03);  // 1000 ticks, about 838 us
  const uint64_t start = now.load();
  EXPECT_EQ(pit.next_irq0(), start + ticks_ns(1000));
}

// A reload of 1 would interrupt 1.2 million times a second; like KVM's PIT,
// ember's interrupts at most every 200 us (239 ticks), and the count the
// guest reads keeps the true reload.
TEST_F(Pit8254Test, PeriodicInterruptsComeNoFasterThanEvery200Microseconds) {
  for (const uint8_t mode : {uint8_t{0x34}, uint8_t{0x36}}) {  // modes 2 and 3
    SCOPED_TRACE(mode);
    out(0x43, mode);
    out(0x40, 1);
    out(0x40, 0);
    const uint64_t start = now.load();
    const auto next = pit.next_irq0();
    ASSERT_TRUE(next.has_value());
    EXPECT_GE(*next - start, 200'000u);
    EXPECT_LE(*next - start, 201'000u);
  }
  out(0x43, 0x34);
  out(0x40, 100);
  out(0x40, 0);
  out(0x43, 0x00);
  const uint16_t latched = read_count(0x40);
  EXPECT_GE(latched, 1);
  EXPECT_LE(latched, 100) << "the counter itself still counts the reload of 100";
}

TEST_F(Pit8254Test, ControlWordStopsChannel0) {
  out(0x43, 0x34);
  out(0x40, 100);
  out(0x40, 0);
  out(0x43, 0x30);  // new mode, no count yet
  EXPECT_EQ(pit.next_irq0(), std::nullopt);
}

TEST_F(Pit8254Test, ReadBackLatchesStatusThenCount) {
  out(0x43, 0x30);
  EXPECT_EQ(in(0x43), 0) << "the control port is write-only";
  out(0x43, 0xc2);  // read-back: latch count and status of channel 0
  const uint8_t status = in(0x40);
  EXPECT_EQ(status & 0x0e, 0x00) << "mode 0";
  EXPECT_EQ((status >> 4) & 3, 3) << "access lo/hi";
  EXPECT_TRUE(status & 0x40) << "null count: no count written yet";
  EXPECT_FALSE(status & 0x80) << "mode 0 output starts low";
}

TEST_F(Pit8254Test, LatchedCountSurvivesUntilFullyRead) {
  out(0x43, 0x30);
  out(0x40, 0x10);
  out(0x40, 0x27);  // 10000
  out(0x43, 0x00);
  now += ticks_ns(5000);
  const uint16_t first = read_count(0x40);
  EXPECT_EQ(first, 10000) << "the count latched before time moved";
  EXPECT_LT(read_count(0x40), 5100) << "after a full read, reads are live again";
}

TEST_F(Pit8254Test, LowByteOnlyAccess) {
  out(0x43, 0x10);  // channel 0, low byte only, mode 0
  out(0x40, 50);
  EXPECT_EQ(in(0x40), 50);
  EXPECT_EQ(in(0x40), 50) << "every read is the low byte";
}

TEST_F(Pit8254Test, Channel2GateAndOutputForPort61) {
  SystemControlPort port61{pit, [this] { return now.load(); }};
  uint8_t value = 0;
  out(0x43, 0xb0);  // channel 2, lo/hi, mode 0
  out(0x42, 100);
  out(0x42, 0);
  port61.read(Access{0, 0x61, 0}, std::span{&value, 1});
  EXPECT_TRUE(value & 1) << "gate high at reset";
  EXPECT_FALSE(value & 0x20) << "counting: output low";
  const uint8_t gate_off = 0;
  port61.write(Access{0, 0x61, 0}, std::span{&gate_off, 1});
  now += ticks_ns(1000);
  EXPECT_FALSE(pit.channel2_output()) << "a low gate pauses mode 0";
  const uint8_t gate_on = 1;
  port61.write(Access{0, 0x61, 0}, std::span{&gate_on, 1});
  now += ticks_ns(101);
  port61.read(Access{0, 0x61, 0}, std::span{&value, 1});
  EXPECT_TRUE(value & 0x20) << "terminal count: output high";
}

TEST_F(Pit8254Test, Mode3SquareWaveOutput) {
  out(0x43, 0xb6);  // channel 2, lo/hi, mode 3
  out(0x42, 100);
  out(0x42, 0);
  EXPECT_TRUE(pit.channel2_output()) << "first half high";
  now += ticks_ns(60);
  EXPECT_FALSE(pit.channel2_output()) << "second half low";
}

TEST(Pit8254Irq, Channel0PeriodicModePulsesIrq0) {
  CountingLine irq0;
  auto pit = std::make_unique<Pit8254>(irq0, monotonic_ns);
  const auto out = [&](uint16_t port, uint8_t value) { pit->write(Access{port - 0x40u, port, 0}, std::span{&value, 1}); };
  out(0x43, 0x34);
  out(0x40, 0xa9);
  out(0x40, 0x04);  // 1193 ticks: 1 ms
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (irq0.rising.load() < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  pit.reset();  // its thread stops: the line holds what the last pulse left
  EXPECT_GE(irq0.rising.load(), 3) << "IRQ 0 pulses keep coming in mode 2";
  EXPECT_FALSE(irq0.level) << "each pulse ends low, ready for the next edge";
}

}  // namespace
}  // namespace ember
