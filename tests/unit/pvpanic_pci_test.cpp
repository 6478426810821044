#include "devices/pvpanic_pci.h"

#include <gtest/gtest.h>

#include <array>
#include <optional>

#include "unit/interrupt_fakes.h"

namespace ember {
namespace {

using test::RecordingControl;

constexpr uint64_t kBar = 0xe0010000;

uint32_t config_dword(PciFunction& function, uint32_t offset) {
  std::array<uint8_t, 4> bytes{};
  function.config_read(offset, bytes);
  return bytes[0] | bytes[1] << 8 | bytes[2] << 16 | static_cast<uint32_t>(bytes[3]) << 24;
}

void enable_memory(PciFunction& function) {
  const std::array<uint8_t, 2> command{PciConfigSpace::kCommandMemory, 0};
  function.config_write(PciConfigSpace::kCommand, command);
}

// QEMU's docs/specs/pvpanic.rst: Red Hat's vendor ID, device 0x0011, a
// memory BAR whose first byte lists the events and takes them.
TEST(PvpanicPci, IdentifiesAsQemusPvpanicWithAMemoryBar) {
  RecordingControl control;
  PvpanicPci pvpanic{control, kBar};
  EXPECT_EQ(config_dword(pvpanic, PciConfigSpace::kVendorId), 0x00111b36u);
  EXPECT_EQ(config_dword(pvpanic, PciConfigSpace::kRevision) >> 8, 0x088000u);
  EXPECT_FALSE(pvpanic.decoded_memory()) << "no decoding before the guest enables memory";
  enable_memory(pvpanic);
  const auto window = pvpanic.decoded_memory();
  ASSERT_TRUE(window);
  EXPECT_EQ(window->address, kBar);
  EXPECT_EQ(window->size, PvpanicPci::kBarSize);
}

TEST(PvpanicPci, OffersOnlyThePanickedEvent) {
  RecordingControl control;
  PvpanicPci pvpanic{control, kBar};
  std::array<uint8_t, 1> events{};
  pvpanic.bar_read(0, events, 0);
  EXPECT_EQ(events[0], PvpanicPci::kPanicked);
}

TEST(PvpanicPci, APanickedWriteEndsTheRunAsAGuestPanic) {
  RecordingControl control;
  PvpanicPci pvpanic{control, kBar};
  const std::array<uint8_t, 1> panicked{PvpanicPci::kPanicked};
  pvpanic.bar_write(0, panicked, 1);
  ASSERT_TRUE(control.stopped);
  EXPECT_EQ(control.stopped->kind, Outcome::Kind::GuestPanic);
  EXPECT_NE(control.stopped->detail.find("panicked"), std::string::npos);
}

// CRASH_LOADED (a kdump kernel takes over), other offsets and other bits
// leave the guest running.
TEST(PvpanicPci, OtherWritesLeaveTheGuestRunning) {
  RecordingControl control;
  PvpanicPci pvpanic{control, kBar};
  const std::array<uint8_t, 1> crash_loaded{1 << 1};
  pvpanic.bar_write(0, crash_loaded, 0);
  const std::array<uint8_t, 1> panicked{PvpanicPci::kPanicked};
  pvpanic.bar_write(1, panicked, 0);
  pvpanic.bar_write(0, {}, 0);
  EXPECT_FALSE(control.stopped);
}

}  // namespace
}  // namespace ember
