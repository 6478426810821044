// PCI bus 0: configuration mechanism #1, the host bridge, BAR sizing and
// the capability list (PCI Local Bus 3.0), and the BAR window's decoding.
#include "pci/pci_bus.h"

#include <gtest/gtest.h>

#include <cstring>
#include <optional>
#include <vector>

namespace ember {
namespace {

// A function with a 4 KiB BAR that records what reaches it.
class RecordingFunction final : public PciFunction {
 public:
  RecordingFunction() : config_{0x1234, 0x5678, 0xff0000, 2} {
    config_.set_memory_bar64(PciBus::kWindowBase + 0x10000, 0x1000);
    const std::vector<uint8_t> cap{0x09, 0, 4, 7}, writable{0, 0, 0, 0xff};
    first_cap = config_.add_capability(cap, writable);
    second_cap = config_.add_capability(cap, writable);
  }
  std::string_view name() const override { return "recording"; }
  void config_read(uint32_t offset, std::span<uint8_t> data) override { config_.read(offset, data); }
  void config_write(uint32_t offset, std::span<const uint8_t> data) override { config_.write(offset, data); }
  std::optional<Window> decoded_memory() override {
    if (!config_.memory_enabled()) return std::nullopt;
    return Window{config_.bar_address(), config_.bar_size()};
  }
  void bar_read(uint64_t offset, std::span<uint8_t> data, uint32_t) override {
    last_offset = offset;
    std::fill(data.begin(), data.end(), 0x42);
  }
  void bar_write(uint64_t offset, std::span<const uint8_t> data, uint32_t) override {
    last_offset = offset;
    last_size = data.size();
  }

  uint8_t  first_cap = 0, second_cap = 0;
  uint64_t last_offset = ~0ull;
  size_t   last_size = 0;

 private:
  PciConfigSpace config_;
};

class PciBusTest : public ::testing::Test {
 protected:
  PciBusTest() { slot = *bus.add(function); }

  static uint32_t address(unsigned slot_number, uint32_t offset, unsigned function_number = 0, unsigned bus_number = 0) {
    return 0x80000000u | bus_number << 16 | slot_number << 11 | function_number << 8 | (offset & 0xfc);
  }
  void select(uint32_t value) {
    std::vector<uint8_t> bytes(4);
    std::memcpy(bytes.data(), &value, 4);
    bus.config_ports().write({0, PciBus::kConfigAddressPort, 0}, bytes);
  }
  uint32_t config_read(unsigned slot_number, uint32_t offset, size_t size = 4) {
    select(address(slot_number, offset));
    std::vector<uint8_t> data(size);
    bus.config_ports().read({4 + (offset & 3), 0xcfc + (offset & 3u), 0}, data);
    uint32_t value = 0;
    std::memcpy(&value, data.data(), size);
    return value;
  }
  void config_write(unsigned slot_number, uint32_t offset, uint32_t value, size_t size = 4) {
    select(address(slot_number, offset));
    std::vector<uint8_t> data(size);
    std::memcpy(data.data(), &value, size);
    bus.config_ports().write({4 + (offset & 3), 0xcfc + (offset & 3u), 0}, data);
  }

  PciBus            bus;
  RecordingFunction function;
  unsigned          slot = 0;
};

TEST_F(PciBusTest, HostBridgeAtSlotZeroAndTheAddressRegisterReadsBack) {
  EXPECT_EQ(slot, 1u) << "slot 0 is the host bridge";
  EXPECT_EQ(config_read(0, 0x00), 0x0d578086u);
  EXPECT_EQ(config_read(0, 0x08) >> 8, 0x060000u) << "class: host bridge, which Linux's probe looks for";
  select(0x80001234);
  std::vector<uint8_t> data(4);
  bus.config_ports().read({0, PciBus::kConfigAddressPort, 0}, data);
  uint32_t value;
  std::memcpy(&value, data.data(), 4);
  EXPECT_EQ(value, 0x80001234u);
}

TEST_F(PciBusTest, AbsentSlotsFunctionsAndBusesReadAllOnes) {
  EXPECT_EQ(config_read(2, 0x00), 0xffffffffu);
  select(address(1, 0, 1));
  std::vector<uint8_t> data(4);
  bus.config_ports().read({4, 0xcfc, 0}, data);
  EXPECT_EQ(data, std::vector<uint8_t>(4, 0xff)) << "function 1";
  select(address(1, 0, 0, 1));
  bus.config_ports().read({4, 0xcfc, 0}, data);
  EXPECT_EQ(data, std::vector<uint8_t>(4, 0xff)) << "bus 1";
  select(address(1, 0) & ~0x80000000u);
  bus.config_ports().read({4, 0xcfc, 0}, data);
  EXPECT_EQ(data, std::vector<uint8_t>(4, 0xff)) << "enable bit clear";
}

TEST_F(PciBusTest, ByteAndWordAccessesReachTheirBytes) {
  EXPECT_EQ(config_read(1, 0x00, 2), 0x1234u);
  EXPECT_EQ(config_read(1, 0x02, 2), 0x5678u);
  EXPECT_EQ(config_read(1, 0x08, 1), 2u) << "revision";
  EXPECT_EQ(config_read(1, 0x0b, 1), 0xffu) << "base class";
  // A word at 0xcfd would cross into the next dword's bytes: refused.
  select(address(1, 0));
  std::vector<uint8_t> data(2);
  bus.config_ports().read({5, 0xcfd, 0}, data);
  EXPECT_EQ(data, std::vector<uint8_t>(2, 0xff));
}

TEST_F(PciBusTest, BarSizingReadsBackTheSizeMaskAndTypeBits) {
  EXPECT_EQ(config_read(1, 0x10), static_cast<uint32_t>(PciBus::kWindowBase + 0x10000) | 0x4);
  config_write(1, 0x10, 0xffffffff);
  config_write(1, 0x14, 0xffffffff);
  EXPECT_EQ(config_read(1, 0x10), 0xfffff004u) << "4 KiB, 64-bit memory";
  EXPECT_EQ(config_read(1, 0x14), 0xffffffffu);
  config_write(1, 0x10, static_cast<uint32_t>(PciBus::kWindowBase + 0x20000));
  config_write(1, 0x14, 0);
  EXPECT_EQ(config_read(1, 0x10), static_cast<uint32_t>(PciBus::kWindowBase + 0x20000) | 0x4);
}

TEST_F(PciBusTest, ReadOnlyFieldsIgnoreWrites) {
  config_write(1, 0x00, 0);
  config_write(1, 0x08, 0);
  EXPECT_EQ(config_read(1, 0x00), 0x56781234u);
  EXPECT_EQ(config_read(1, 0x08) >> 8, 0xff0000u);
  config_write(1, 0x04, 0xffff, 2);
  EXPECT_EQ(config_read(1, 0x04, 2), 0x0406u) << "only memory, bus master and INTx disable are writable";
}

TEST_F(PciBusTest, CapabilitiesFormAListFromThePointer) {
  EXPECT_NE(config_read(1, 0x06, 2) & 0x10, 0u) << "status: capabilities list";
  const uint32_t first = config_read(1, 0x34, 1);
  EXPECT_EQ(first, function.first_cap);
  EXPECT_EQ(config_read(1, first, 1), 0x09u);
  const uint32_t second = config_read(1, first + 1, 1);
  EXPECT_EQ(second, function.second_cap);
  EXPECT_EQ(second % 4, 0u);
  EXPECT_EQ(config_read(1, second + 1, 1), 0u) << "the end of the list";
  config_write(1, first + 1, 0x99, 1);
  EXPECT_EQ(config_read(1, first + 1, 1), second) << "next pointers are read-only";
  config_write(1, first + 3, 0x55, 1);
  EXPECT_EQ(config_read(1, first + 3, 1), 0x55u) << "the capability's own writable byte";
}

TEST_F(PciBusTest, TheWindowDecodesABarOnlyWhileMemoryIsEnabledAndWhereTheGuestPutIt) {
  const uint64_t bar = PciBus::kWindowBase + 0x10000;
  std::vector<uint8_t> data(4);
  bus.window().read({0, bar + 8, 0}, data);
  EXPECT_EQ(data, std::vector<uint8_t>(4, 0xff)) << "decoding is off after reset";
  config_write(1, 0x04, 0x2, 2);
  bus.window().read({0, bar + 8, 0}, data);
  EXPECT_EQ(data, std::vector<uint8_t>(4, 0x42));
  EXPECT_EQ(function.last_offset, 8u);
  bus.window().write({0, bar + 0xffe, 0}, std::vector<uint8_t>(4, 1));
  EXPECT_EQ(function.last_offset, 8u) << "an access running past the BAR's end is not the function's";

  config_write(1, 0x10, static_cast<uint32_t>(bar + 0x1000));
  bus.window().write({0, bar + 0x1010, 0}, std::vector<uint8_t>(2, 1));
  EXPECT_EQ(function.last_offset, 0x10u) << "the BAR moved";
  EXPECT_EQ(function.last_size, 2u);
}

// The window listener (how ember's queue notifiers follow a BAR): told of
// every change to what a function decodes, and of nothing else.
TEST_F(PciBusTest, TheWindowListenerHearsEveryChangeOfADecodedWindowAndNothingElse) {
  struct Change {
    std::optional<PciFunction::Window> before, after;
  };
  std::vector<Change> changes;
  bus.set_window_listener([&](PciFunction& changed, std::optional<PciFunction::Window> before,
                              std::optional<PciFunction::Window> after) {
    EXPECT_EQ(&changed, &function);
    changes.push_back({before, after});
  });
  const uint64_t first = PciBus::kWindowBase + 0x10000, second = PciBus::kWindowBase + 0x20000;

  config_write(slot, 0x2c, 0xabcd);  // subsystem IDs: read-only, decodes nothing new
  config_write(slot, 0x04, 0x2);     // memory decoding on
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_FALSE(changes[0].before);
  ASSERT_TRUE(changes[0].after);
  EXPECT_EQ(changes[0].after->address, first);
  EXPECT_EQ(changes[0].after->size, 0x1000u);

  config_write(slot, 0x04, 0x2);  // the same again: no change
  config_write(slot, 0x10, static_cast<uint32_t>(second));  // moved while decoding
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[1].before->address, first);
  EXPECT_EQ(changes[1].after->address, second);

  config_write(slot, 0x04, 0x0);  // decoding off
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[2].before->address, second);
  EXPECT_FALSE(changes[2].after);
  config_write(slot, 0x10, static_cast<uint32_t>(first));  // moved while not decoding: nothing decodes
  EXPECT_EQ(changes.size(), 3u);
}

}  // namespace
}  // namespace ember
