#include "bus/bus.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace ember {
namespace {

class RecordingDevice final : public Device {
 public:
  std::string_view name() const override { return "recording"; }
  void read(const Access& access, std::span<uint8_t> data) override {
    last = access;
    for (auto byte : data) EXPECT_EQ(byte, 0) << "the bus must zero-fill read buffers";
    data[0] = 0x42;
  }
  void write(const Access& access, std::span<const uint8_t> data) override {
    last = access;
    written.assign(data.begin(), data.end());
  }
  Access               last{};
  std::vector<uint8_t> written;
};

TEST(Bus, InsertRejectsZeroLength) {
  Bus bus{"test"};
  RecordingDevice device;
  EXPECT_FALSE(bus.insert(0x100, 0, device).ok());
}

TEST(Bus, InsertRejectsRangeRunningPast2To64) {
  Bus bus{"test"};
  RecordingDevice device;
  EXPECT_FALSE(bus.insert(UINT64_MAX - 1, 3, device).ok());
  EXPECT_TRUE(bus.insert(UINT64_MAX - 1, 2, device).ok()) << "a range may end exactly at 2^64 - 1";
}

TEST(Bus, InsertRejectsOverlapsOnEitherSide) {
  Bus bus{"test"};
  RecordingDevice a, b;
  ASSERT_TRUE(bus.insert(0x100, 0x10, a).ok());
  EXPECT_FALSE(bus.insert(0x10f, 1, b).ok()) << "overlaps the last byte";
  EXPECT_FALSE(bus.insert(0xf8, 0x10, b).ok()) << "overlaps the first byte";
  EXPECT_FALSE(bus.insert(0x0, 0x1000, b).ok()) << "covers it";
  EXPECT_FALSE(bus.insert(0x104, 1, b).ok()) << "inside it";
  EXPECT_TRUE(bus.insert(0x110, 1, b).ok()) << "adjacent after";
  EXPECT_TRUE(bus.insert(0xff, 1, b).ok()) << "adjacent before";
  EXPECT_EQ(bus.size(), 3u);
}

TEST(Bus, OverlapErrorNamesBothDevices) {
  Bus bus{"port I/O"};
  RecordingDevice a, b;
  ASSERT_TRUE(bus.insert(0x3f8, 8, a).ok());
  const auto status = bus.insert(0x3f8, 1, b);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.error().code, BusFault::kOverlap);
  // The sentence is for people: it says which bus and names both devices.
  EXPECT_NE(status.error().message.find("overlaps recording at 0x3f8"), std::string::npos) << status.error().message;
  EXPECT_NE(status.error().message.find("port I/O"), std::string::npos);
}

TEST(Bus, EmptyAndWrappingRangesAreRefused) {
  Bus bus{"MMIO"};
  RecordingDevice a;
  const auto empty = bus.insert(0x1000, 0, a);
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.error().code, BusFault::kZeroLength);
  const auto wraps = bus.insert(~0ull - 3, 8, a);
  ASSERT_FALSE(wraps.ok());
  EXPECT_EQ(wraps.error().code, BusFault::kWraps);
  EXPECT_TRUE(bus.insert(~0ull - 7, 8, a).ok()) << "the last 8 bytes of the address space";
}

TEST(Bus, DispatchesWithOffsetAddressAndVcpu) {
  Bus bus{"test"};
  RecordingDevice device;
  ASSERT_TRUE(bus.insert(0x3f8, 8, device).ok());
  std::array<uint8_t, 1> data{0xaa};
  EXPECT_TRUE(bus.read(0x3fd, data, 3));
  EXPECT_EQ(data[0], 0x42);
  EXPECT_EQ(device.last.offset, 5u);
  EXPECT_EQ(device.last.address, 0x3fdu);
  EXPECT_EQ(device.last.vcpu, 3u);

  const std::array<uint8_t, 2> value{1, 2};
  EXPECT_TRUE(bus.write(0x3f8, value, 1));
  EXPECT_EQ(device.last.offset, 0u);
  EXPECT_EQ(device.written, (std::vector<uint8_t>{1, 2}));
}

TEST(Bus, UnmappedReadsReturnAllOnesAndWritesAreDropped) {
  Bus bus{"test"};
  RecordingDevice device;
  ASSERT_TRUE(bus.insert(0x100, 0x10, device).ok());
  std::array<uint8_t, 4> data{};
  EXPECT_FALSE(bus.read(0x110, data, 0));
  EXPECT_EQ(data, (std::array<uint8_t, 4>{0xff, 0xff, 0xff, 0xff}));
  EXPECT_FALSE(bus.read(0xff, data, 0));
  const std::array<uint8_t, 1> value{7};
  EXPECT_FALSE(bus.write(0x200, value, 0));
  EXPECT_TRUE(device.written.empty());
}

size_t count(const std::string& text, const std::string& what) {
  size_t found = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++found;
  return found;
}

TEST(Bus, AProbedUnmappedAddressIsReportedOnce) {
  // A kernel probing COM2 writes its registers thousands of times.
  Bus bus{"port I/O"};
  const std::array<uint8_t, 1> value{0x5a};
  ::testing::internal::CaptureStderr();
  for (int i = 0; i < 5000; ++i) {
    bus.write(0x2f9, value, 0);
    bus.write(0x2fc, value, 1);
  }
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(count(log, "unmapped port I/O address 0x2f9"), 1u) << log;
  EXPECT_EQ(count(log, "unmapped port I/O address 0x2fc"), 1u) << log;
  EXPECT_EQ(count(log, "\n"), 2u) << log;
}

TEST(Bus, AccessStraddlingTheEndGoesToTheDeviceOfItsFirstByte) {
  // src/bus/device.h: devices assume offset + length can run past their range.
  Bus bus{"test"};
  RecordingDevice device;
  ASSERT_TRUE(bus.insert(0x100, 4, device).ok());
  std::array<uint8_t, 4> data{};
  EXPECT_TRUE(bus.read(0x103, data, 0));
  EXPECT_EQ(device.last.offset, 3u);
}

TEST(Bus, FindsTheRightDeviceAmongMany) {
  Bus bus{"test"};
  std::vector<std::unique_ptr<RecordingDevice>> devices;
  for (uint64_t i = 0; i < 100; ++i) {
    devices.push_back(std::make_unique<RecordingDevice>());
    ASSERT_TRUE(bus.insert(0x1000 * (99 - i), 0x10, *devices.back()).ok());  // inserted out of order
  }
  for (uint64_t i = 0; i < 100; ++i) {
    const std::array<uint8_t, 1> value{static_cast<uint8_t>(i)};
    ASSERT_TRUE(bus.write(0x1000 * i + 0xf, value, 0));
    EXPECT_EQ(devices[99 - i]->written, (std::vector<uint8_t>{static_cast<uint8_t>(i)}));
    EXPECT_FALSE(bus.write(0x1000 * i + 0x10, value, 0));
  }
}

}  // namespace
}  // namespace ember
