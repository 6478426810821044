// Snapshot state of the emulated chips (issue 20): each device's state,
// saved after a guest programmed it, restores into a fresh device that then
// saves the same bytes and behaves the same; a section with a value no guest
// could have set is refused with a sentence naming it, and the device keeps
// the state it had.
#include <gtest/gtest.h>

#include <array>
#include <cstring>
#include <string>
#include <vector>

#include "console/console_output.h"
#include "devices/acpi_pm.h"
#include "devices/cmos_rtc.h"
#include "devices/command_port.h"
#include "devices/i8042.h"
#include "devices/ioapic.h"
#include "devices/pic8259.h"
#include "devices/pit8254.h"
#include "devices/pvpanic_pci.h"
#include "devices/uart16550.h"
#include "irq/lapic.h"
#include "snapshot/state_format.h"
#include "unit/interrupt_fakes.h"

namespace ember {
namespace {

using test::RecordingControl;
using test::RecordingEoi;
using test::RecordingLine;

template <class Device>
std::vector<uint8_t> state_of(Device& device) {
  snapshot::StateWriter writer;
  device.save(writer.section("device"));
  return writer.finish();
}

template <class Device>
Result<void> restore(Device& device, std::vector<uint8_t> file) {
  auto parsed = snapshot::StateFile::parse(std::move(file));
  if (!parsed) return parsed.error();
  auto section = parsed->section("device");
  if (!section) return section.error();
  return device.restore(*section);
}

// A state file whose "device" section is `fields` (written by `write`).
template <class Write>
std::vector<uint8_t> crafted(Write write) {
  snapshot::StateWriter writer;
  write(writer.section("device"));
  return writer.finish();
}

void out(Device& device, uint64_t port, uint8_t value, uint64_t offset = 0) {
  device.write(Access{offset, port, 0}, std::span{&value, 1});
}
uint8_t in(Device& device, uint64_t port, uint64_t offset = 0) {
  uint8_t value = 0;
  device.read(Access{offset, port, 0}, std::span{&value, 1});
  return value;
}

TEST(DeviceState, IoapicRoundTripsAndRefusesAnImpossibleEntry) {
  InterruptRouter router;
  Ioapic ioapic{router, 0};
  const auto select = [&](Ioapic& chip, uint32_t index, uint32_t value) {
    chip.write(Access{0x00, Ioapic::kMmioBase, 0}, std::span{reinterpret_cast<const uint8_t*>(&index), 4});
    chip.write(Access{0x10, Ioapic::kMmioBase + 0x10, 0}, std::span{reinterpret_cast<const uint8_t*>(&value), 4});
  };
  select(ioapic, 0x10 + 2 * 4, 0x30 | (1u << 15));  // pin 4: vector 0x30, level, unmasked
  select(ioapic, 0x11 + 2 * 4, 1u << 24);
  ioapic.set_pin(9, true);
  const auto saved = state_of(ioapic);
  Ioapic restored{router, 0};
  ASSERT_TRUE(restore(restored, saved));
  EXPECT_EQ(state_of(restored), saved);
  EXPECT_EQ(restored.redirection_entry(4), ioapic.redirection_entry(4));

  const auto before = state_of(restored);
  const auto refused = restore(restored, crafted([](snapshot::SectionWriter& s) {
    s.u32(0).u32(0);
    for (unsigned pin = 0; pin < Ioapic::kPins; ++pin) s.u64(pin == 3 ? (1ull << 14) : (1ull << 16)).boolean(false);  // remote IRR on an edge pin
  }));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "the snapshot's section 'device' has an impossible redirection entry for pin 3");
  EXPECT_EQ(state_of(restored), before) << "a refused restore changed the device";
}

TEST(DeviceState, PicRoundTripsAndRefusesABadInitialisationStep) {
  Pic8259Pair pic;
  // ICW1-4 on both chips: vectors 0x20 and 0x28, cascade, 8086 mode; then masks.
  for (const auto& [port, values] : {std::pair<uint16_t, std::array<uint8_t, 4>>{0x20, {0x11, 0x20, 0x04, 0x01}},
                                     {0xa0, {0x11, 0x28, 0x02, 0x01}}}) {
    out(pic, port, values[0]);
    for (int i = 1; i < 4; ++i) out(pic, port + 1, values[static_cast<size_t>(i)]);
  }
  out(pic, 0x21, 0xfa);
  pic.set_irq(0, true);
  const auto saved = state_of(pic);
  Pic8259Pair restored;
  ASSERT_TRUE(restore(restored, saved));
  EXPECT_EQ(state_of(restored), saved);
  EXPECT_EQ(restored.acknowledge(), pic.acknowledge()) << "both deliver IRQ 0 as vector 0x20";

  const auto refused = restore(restored, crafted([](snapshot::SectionWriter& s) {
    for (int chip = 0; chip < 2; ++chip) {
      s.u8(0).u8(0).u8(0xff).u8(0).u8(0).u8(0x20).u8(7).u8(chip == 1 ? 9 : 0);
      for (int flag = 0; flag < 7; ++flag) s.boolean(false);
    }
  }));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "the snapshot's section 'device' has an initialisation step other than 0, 2, 3 or 4");
}

TEST(DeviceState, PitRoundTripsOnTheMachinesClockAndRefusesAReloadOfZero) {
  RecordingLine irq0;
  uint64_t now = 5'000'000;
  Pit8254 pit{irq0, [&] { return now; }};
  out(pit, 0x43, 0x34);  // channel 0, low then high, mode 2
  out(pit, 0x40, 0x9c, 0);
  out(pit, 0x40, 0x2e, 0);
  now += 1'000'000;
  out(pit, 0x43, 0x00);  // latch channel 0
  const auto saved = state_of(pit);
  Pit8254 restored{irq0, [&] { return now; }};
  ASSERT_TRUE(restore(restored, saved));
  EXPECT_EQ(state_of(restored), saved);
  EXPECT_EQ(in(restored, 0x40, 0), in(pit, 0x40, 0)) << "the latched count, low byte";
  EXPECT_EQ(in(restored, 0x40, 0), in(pit, 0x40, 0)) << "and high byte";

  const auto refused = restore(restored, crafted([](snapshot::SectionWriter& s) {
    for (int channel = 0; channel < 3; ++channel) {
      s.u8(2).u8(3).u32(channel == 2 ? 0 : 0x10000).boolean(false).u64(0).boolean(true).u64(0).boolean(false).u8(0).boolean(false);
      s.boolean(false).u16(0).boolean(false).boolean(false).u8(0);
    }
  }));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "the snapshot's section 'device' has a reload value outside 1 to 65536");
}

TEST(DeviceState, UartRoundTripsWithUnreadInputAndRefusesImpossibleBits) {
  struct Discard final : ConsoleOutput {
    void write(std::span<const uint8_t>) override {}
  } output;
  RecordingLine irq;
  Uart16550 uart{output, irq};
  out(uart, 0x3f9, 0x01, 1);  // IER: received data
  out(uart, 0x3fb, 0x03, 3);  // LCR: 8N1
  out(uart, 0x3ff, 0x5a, 7);  // scratch
  const std::string typed = "ls\n";
  ASSERT_EQ(uart.receive({reinterpret_cast<const uint8_t*>(typed.data()), typed.size()}), 3u);
  const auto saved = state_of(uart);
  RecordingLine restored_irq;
  Uart16550 restored{output, restored_irq};
  ASSERT_TRUE(restore(restored, saved));
  EXPECT_EQ(state_of(restored), saved);
  EXPECT_TRUE(restored_irq.level) << "unread input raises the interrupt again";
  EXPECT_EQ(in(restored, 0x3f8, 0), 'l');
  EXPECT_EQ(in(restored, 0x3ff, 7), 0x5a);

  const auto refused = restore(restored, crafted([](snapshot::SectionWriter& s) {
    s.bytes({}).u8(0xf0).u8(0).u8(0).u8(0).u8(0).u8(0x0c).u8(0).boolean(false).boolean(false);
  }));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "the snapshot's section 'device' has register bits set that no guest can set");
}

TEST(DeviceState, RtcRoundTripsItsRamAndOffsetAndRefusesAnAbsurdOffset) {
  RecordingLine irq;
  int64_t host_now = 1'700'000'000;
  CmosRtc rtc{irq, [&] { return host_now * 1'000'000'000; }};
  out(rtc, 0x70, 0x20, 0);
  out(rtc, 0x71, 0xab, 1);  // NVRAM byte 0x20
  const auto saved = state_of(rtc);
  CmosRtc restored{irq, [&] { return host_now * 1'000'000'000; }};
  ASSERT_TRUE(restore(restored, saved));
  EXPECT_EQ(state_of(restored), saved);
  out(restored, 0x70, 0x20, 0);
  EXPECT_EQ(in(restored, 0x71, 1), 0xab);

  const auto refused = restore(restored, crafted([](snapshot::SectionWriter& s) {
    s.u8(0).boolean(false).u64(static_cast<uint64_t>(int64_t{400'000'000}));
    for (int field = 0; field < 8; ++field) s.u32(field == 3 ? 1 : 0);
    s.bytes(std::vector<uint8_t>(128, 0)).u8(0).boolean(false);
  }));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "the snapshot's section 'device' has a clock offset of more than ten years");
}

TEST(DeviceState, I8042RoundTripsAndRefusesAControllerHoldingTheCpuInReset) {
  RecordingControl control;
  RecordingLine keyboard, aux;
  I8042 controller{control, keyboard, aux};
  out(controller, 0x64, 0x20);  // read the configuration byte: one byte of output
  const auto saved = state_of(controller);
  I8042 restored{control, keyboard, aux};
  ASSERT_TRUE(restore(restored, saved));
  EXPECT_EQ(state_of(restored), saved);
  EXPECT_EQ(in(restored, 0x60), 0x47) << "the configuration byte is still waiting";

  const auto refused = restore(restored, crafted([](snapshot::SectionWriter& s) { s.u8(0x47).u8(0x02).u8(0).boolean(false).u32(0); }));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "the snapshot's section 'device' holds the CPU in reset (output port bit 0 low)");
}

TEST(DeviceState, LapicRoundTripsItsRegistersAndTimerAndRefusesAnotherCpusState) {
  InterruptRouter router;
  RecordingEoi eoi;
  std::array<ApicAddressing, 2> addressing;
  uint64_t now = 1'000'000;
  Lapic lapic{0, router, eoi, addressing[0], [&] { return now; }};
  lapic.write_register(0x80, 0x20);        // TPR
  lapic.write_register(0xf0, 0x1ff);       // SVR: enabled, spurious 0xff
  lapic.write_register(0x320, 0x20030);    // LVT timer: periodic, vector 0x30
  lapic.write_register(0x3e0, 0x3);        // divide by 16
  lapic.write_register(0x380, 100'000);    // initial count: the timer runs
  const auto saved = state_of(lapic);
  Lapic restored{0, router, eoi, addressing[1], [&] { return now; }};
  ASSERT_TRUE(restore(restored, saved));
  EXPECT_EQ(state_of(restored), saved);
  EXPECT_EQ(restored.timer_deadline(), lapic.timer_deadline());
  EXPECT_EQ(restored.read_register(0x80), 0x20u);
  EXPECT_EQ(addressing[1].tpr.load(), 0x20) << "what the router reads is published";

  Lapic other{1, router, eoi, addressing[1], [&] { return now; }};
  const auto refused = restore(other, saved);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().message, "the snapshot's section 'device' belongs to the LAPIC with ID 0");
}

TEST(DeviceState, AcpiPmRoundTrips) {
  RecordingControl control;
  AcpiPm pm{control, [] { return uint64_t{0}; }};
  out(pm, 0x602, 0x21, 2);  // PM1a enable: power button, global lock
  const auto saved = state_of(pm);
  AcpiPm restored{control, [] { return uint64_t{0}; }};
  ASSERT_TRUE(restore(restored, saved));
  EXPECT_EQ(state_of(restored), saved);
  EXPECT_FALSE(restore(restored, crafted([](snapshot::SectionWriter& s) { s.u16(1); })));
}

}  // namespace
}  // namespace ember

namespace ember {
namespace {

// A restored guest's pvpanic must still decode its BAR where the guest's
// kernel enabled it, or a panic after a restore would go unreported.
TEST(DeviceState, PciFunctionRoundTripsWhatTheGuestProgrammedAndRefusesAChangedReadOnlyByte) {
  RecordingControl control;
  PvpanicPci pvpanic{control, 0xe0010000};
  const std::array<uint8_t, 2> command{PciConfigSpace::kCommandMemory, 0};
  pvpanic.config_write(PciConfigSpace::kCommand, command);
  const std::array<uint8_t, 1> line{11};
  pvpanic.config_write(PciConfigSpace::kInterruptLine, line);
  const auto saved = state_of(pvpanic);
  PvpanicPci restored{control, 0xe0010000};
  ASSERT_FALSE(restored.decoded_memory());
  ASSERT_TRUE(restore(restored, saved));
  EXPECT_EQ(state_of(restored), saved);
  const auto window = restored.decoded_memory();
  ASSERT_TRUE(window) << "memory decoding was not restored";
  EXPECT_EQ(window->address, 0xe0010000u);

  // The same space with another device ID: no guest can write that byte.
  std::array<uint8_t, PciConfigSpace::kSize> space{};
  pvpanic.config_read(0, std::span{space}.first(4));
  for (uint32_t offset = 4; offset < PciConfigSpace::kSize; offset += 4) pvpanic.config_read(offset, std::span{space}.subspan(offset, 4));
  space[PciConfigSpace::kDeviceId] ^= 0xff;
  PvpanicPci untouched{control, 0xe0010000};
  const auto refused = restore(untouched, crafted([&](snapshot::SectionWriter& out) { out.bytes(space); }));
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("configuration byte 2"), std::string::npos) << refused.error().message;
  EXPECT_FALSE(untouched.decoded_memory()) << "a refused restore changed the function";
  // And one of the wrong size.
  const auto short_space = restore(untouched, crafted([](snapshot::SectionWriter& out) { out.bytes(std::vector<uint8_t>(64)); }));
  ASSERT_FALSE(short_space);
  EXPECT_NE(short_space.error().message.find("64 bytes, not 256"), std::string::npos) << short_space.error().message;
}

// The command port (devices/command_port.h): the doorbell, then the host's
// clock, the command's length and the command, a byte per read, zeroes after.
TEST(CommandPort, AnswersTheClockAndTheCommandAfterTheDoorbellAndAtRestore) {
  int doorbells = 0;
  CommandPort port{[] { return int64_t{1'700'000'000'123'456'789}; }, [&] { ++doorbells; }};
  port.set_command("echo hi");
  const auto read_answer = [&] {
    std::vector<uint8_t> bytes(8 + 4 + 7 + 2);
    for (auto& byte : bytes) byte = in(port, CommandPort::kPort);
    return bytes;
  };
  // Restored: the answer is ready without a doorbell (it rang before the snapshot).
  auto answer = read_answer();
  int64_t clock;
  uint32_t length;
  std::memcpy(&clock, answer.data(), 8);
  std::memcpy(&length, answer.data() + 8, 4);
  EXPECT_EQ(clock, 1'700'000'000'123'456'789);
  EXPECT_EQ(length, 7u);
  EXPECT_EQ(std::string(answer.begin() + 12, answer.begin() + 19), "echo hi");
  EXPECT_EQ(answer[19], 0);
  EXPECT_EQ(answer[20], 0);
  EXPECT_EQ(doorbells, 0);
  out(port, CommandPort::kPort, 1);
  EXPECT_EQ(doorbells, 1);
  EXPECT_EQ(read_answer(), answer) << "the doorbell starts the answer over";
}

}  // namespace
}  // namespace ember
