// The device tree ember writes, read back with libfdt.
#include "boot/device_tree.h"

extern "C" {
#include <libfdt.h>
}

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ember::boot {
namespace {

class DeviceTreeTest : public ::testing::Test {
 protected:
  void build(const MachineDescription& machine) {
    auto built = build_device_tree(machine);
    ASSERT_TRUE(built) << built.error().message;
    tree_ = std::move(*built);
    ASSERT_EQ(fdt_check_header(tree_.data()), 0);
    ASSERT_EQ(fdt_totalsize(tree_.data()), tree_.size());
  }
  int node(const std::string& path) const { return fdt_path_offset(tree_.data(), path.c_str()); }
  // The big-endian cells of `property` at `path`; empty if either is missing.
  std::vector<uint32_t> cells(const std::string& path, const char* property) const {
    int length = 0;
    const auto* raw = static_cast<const fdt32_t*>(fdt_getprop(tree_.data(), node(path), property, &length));
    std::vector<uint32_t> values;
    for (int i = 0; raw != nullptr && i < length / 4; ++i) values.push_back(fdt32_to_cpu(raw[i]));
    return values;
  }
  std::string text(const std::string& path, const char* property) const {
    const auto* raw = static_cast<const char*>(fdt_getprop(tree_.data(), node(path), property, nullptr));
    return raw == nullptr ? "" : raw;
  }
  std::vector<uint8_t> tree_;
};

TEST_F(DeviceTreeTest, DescribesCpusRamAndTheInterruptControllers) {
  build({3, ram_regions_for(5ull << 30), 3, {}});
  for (uint32_t cpu = 0; cpu < 3; ++cpu) {
    EXPECT_EQ(cells("/cpus/cpu@" + std::to_string(cpu), "reg"), std::vector<uint32_t>{cpu}) << "reg is the APIC ID";
    EXPECT_EQ(text("/cpus/cpu@" + std::to_string(cpu), "device_type"), "cpu");
  }
  EXPECT_LT(node("/cpus/cpu@3"), 0);
  // 5 GiB: 3 GiB below the MMIO hole, 2 GiB above 4 GiB.
  EXPECT_EQ(cells("/memory@0", "reg"), (std::vector<uint32_t>{0, 0, 0, 0xc0000000}));
  EXPECT_EQ(cells("/memory@100000000", "reg"), (std::vector<uint32_t>{1, 0, 0, 0x80000000}));
  EXPECT_EQ(text("/memory@100000000", "device_type"), "memory");

  EXPECT_EQ(text("/lapic@fee00000", "compatible"), "intel,ce4100-lapic");
  EXPECT_EQ(text("/ioapic@fec00000", "compatible"), "intel,ce4100-ioapic");
  EXPECT_EQ(cells("/ioapic@fec00000", "reg"), (std::vector<uint32_t>{0, 0xfec00000, 0, 0x1000}));
  EXPECT_EQ(cells("/ioapic@fec00000", "#interrupt-cells"), std::vector<uint32_t>{2});
  EXPECT_EQ(cells("/ioapic@fec00000", "ember,apic-id"), std::vector<uint32_t>{3});
  EXPECT_EQ(cells("/", "interrupt-parent"), cells("/ioapic@fec00000", "phandle")) << "every interrupt goes to the IOAPIC";
}

TEST_F(DeviceTreeTest, Com1IsAnIsaIoPortWithItsEdgeInterrupt) {
  build({1, ram_regions_for(64 << 20), 1, {}});
  EXPECT_EQ(text("/chosen", "stdout-path"), "/isa/serial@i3f8");
  EXPECT_EQ(text("/isa/serial@i3f8", "compatible"), "ns16550a");
  EXPECT_EQ(cells("/isa/serial@i3f8", "reg"), (std::vector<uint32_t>{1, 0x3f8, 8})) << "space 1 is I/O";
  EXPECT_EQ(cells("/isa/serial@i3f8", "interrupts"), (std::vector<uint32_t>{4, kIoapicEdgeRising}));
}

TEST_F(DeviceTreeTest, EveryVirtioMmioDeviceHasItsWindowAndLevelInterrupt) {
  build({1, ram_regions_for(64 << 20), 1, {{0xd0000000, 0x1000, 16}, {0xd0001000, 0x1000, 17}}});
  EXPECT_EQ(text("/virtio_mmio@d0000000", "compatible"), "virtio,mmio");
  EXPECT_EQ(cells("/virtio_mmio@d0000000", "reg"), (std::vector<uint32_t>{0, 0xd0000000, 0, 0x1000}));
  EXPECT_EQ(cells("/virtio_mmio@d0001000", "interrupts"), (std::vector<uint32_t>{17, kIoapicLevelHigh}));
  EXPECT_LT(node("/virtio_mmio@d0002000"), 0);
}

TEST_F(DeviceTreeTest, TheLargestMachineFits) {
  std::vector<VirtioMmioNode> devices;
  for (uint32_t slot = 0; slot < 8; ++slot) devices.push_back({0xd0000000 + slot * 0x1000ull, 0x1000, 16 + slot});
  build({254, ram_regions_for(1ull << 40), 254, devices});
  EXPECT_EQ(cells("/cpus/cpu@fd", "reg"), std::vector<uint32_t>{253}) << "unit addresses are hexadecimal";
  EXPECT_GE(node("/virtio_mmio@d0007000"), 0);
}

}  // namespace
}  // namespace ember::boot
