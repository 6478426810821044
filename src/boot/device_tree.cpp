#include "boot/device_tree.h"

extern "C" {
#include <libfdt.h>
}

#include <cstdio>
#include <string>

#include "platform/address_map.h"

namespace ember::boot {
namespace {

constexpr uint32_t kIoapicPhandle = 1;
constexpr const char* kCom1Node = "serial@i3f8";  // ISA binding: "i" marks an I/O-space unit address
constexpr uint32_t kUartClockHz = 1'843'200;  // the PC's 1.8432 MHz, divisor 1 = 115200 baud
constexpr int kMaxTreeBytes = 64 << 10;       // 254 CPUs and 8 devices need about 20 KiB

// Writes the tree with libfdt's sequential-write calls, remembering the
// first error: every call after one fails is skipped.
class TreeWriter {
 public:
  explicit TreeWriter(std::vector<uint8_t>& buffer) : buffer_{buffer} {
    check(fdt_create(buffer_.data(), static_cast<int>(buffer_.size())));
    check(fdt_finish_reservemap(buffer_.data()));
  }
  void begin(const std::string& name) { check(fdt_begin_node(buffer_.data(), name.c_str())); }
  void end() { check(fdt_end_node(buffer_.data())); }
  void string(const char* name, const std::string& value) {
    // fdt_property_string is a macro that narrows strlen() to int.
    check(fdt_property(buffer_.data(), name, value.c_str(), static_cast<int>(value.size() + 1)));
  }
  void empty(const char* name) { check(fdt_property(buffer_.data(), name, nullptr, 0)); }
  void cells(const char* name, std::initializer_list<uint32_t> values) {
    std::vector<fdt32_t> big_endian;
    for (uint32_t value : values) big_endian.push_back(cpu_to_fdt32(value));
    check(fdt_property(buffer_.data(), name, big_endian.data(), static_cast<int>(big_endian.size() * sizeof(fdt32_t))));
  }
  // A `reg` of one range with two address and two size cells.
  void reg64(uint64_t address, uint64_t size) {
    cells("reg", {static_cast<uint32_t>(address >> 32), static_cast<uint32_t>(address), static_cast<uint32_t>(size >> 32),
                  static_cast<uint32_t>(size)});
  }
  Result<std::vector<uint8_t>> finish() {
    check(fdt_finish(buffer_.data()));
    if (error_ != 0) return Error{std::string("cannot build the device tree: ") + fdt_strerror(error_)};
    buffer_.resize(fdt_totalsize(buffer_.data()));
    return std::move(buffer_);
  }

 private:
  void check(int result) {
    if (error_ == 0 && result < 0) error_ = result;
  }
  std::vector<uint8_t>& buffer_;
  int                   error_ = 0;
};

std::string unit_name(const char* name, uint64_t address) {
  char text[64];
  std::snprintf(text, sizeof text, "%s@%llx", name, static_cast<unsigned long long>(address));
  return text;
}

}  // namespace

Result<std::vector<uint8_t>> build_device_tree(const MachineDescription& machine) {
  std::vector<uint8_t> buffer(kMaxTreeBytes);
  TreeWriter tree{buffer};
  tree.begin("");
  tree.string("compatible", "ember,vm");
  tree.string("model", "ember");
  tree.cells("#address-cells", {2});
  tree.cells("#size-cells", {2});
  tree.cells("interrupt-parent", {kIoapicPhandle});

  tree.begin("chosen");
  tree.string("stdout-path", std::string("/isa/") + kCom1Node);
  tree.end();

  // Devicetree Specification 3.8: one node per CPU, reg = its APIC ID.
  tree.begin("cpus");
  tree.cells("#address-cells", {1});
  tree.cells("#size-cells", {0});
  for (uint32_t cpu = 0; cpu < machine.cpus; ++cpu) {
    tree.begin(unit_name("cpu", cpu));
    tree.string("device_type", "cpu");
    tree.cells("reg", {cpu});
    tree.end();
  }
  tree.end();

  for (const auto& region : machine.ram) {
    tree.begin(unit_name("memory", region.guest_address));
    tree.string("device_type", "memory");
    tree.reg64(region.guest_address, region.size);
    tree.end();
  }

  // The bindings Linux's arch/x86/kernel/devicetree.c understands.
  tree.begin(unit_name("lapic", platform::kLapicBase));
  tree.string("compatible", "intel,ce4100-lapic");
  tree.reg64(platform::kLapicBase, platform::kLapicSize);
  tree.end();
  tree.begin(unit_name("ioapic", platform::kIoapicBase));
  tree.string("compatible", "intel,ce4100-ioapic");
  tree.reg64(platform::kIoapicBase, platform::kIoapicSize);
  tree.empty("interrupt-controller");
  tree.cells("#interrupt-cells", {2});
  tree.cells("#address-cells", {0});  // no interrupt-map refers into it
  tree.cells("phandle", {kIoapicPhandle});
  tree.cells("ember,apic-id", {machine.ioapic_id});
  tree.end();

  // I/O ports under an ISA bus node (the IEEE 1275 ISA binding: address
  // cells are <space address>, space 1 is I/O).
  tree.begin("isa");
  tree.string("compatible", "isa");
  tree.string("device_type", "isa");
  tree.cells("#address-cells", {2});
  tree.cells("#size-cells", {1});
  tree.begin(kCom1Node);
  tree.string("compatible", "ns16550a");
  tree.cells("reg", {1, platform::kCom1Port, 8});
  tree.cells("clock-frequency", {kUartClockHz});
  tree.cells("interrupts", {platform::kCom1Irq, kIoapicEdgeRising});
  tree.end();
  tree.end();

  // Documentation/devicetree/bindings/virtio/mmio.yaml.
  for (const auto& device : machine.virtio) {
    tree.begin(unit_name("virtio_mmio", device.address));
    tree.string("compatible", "virtio,mmio");
    tree.reg64(device.address, device.size);
    tree.cells("interrupts", {device.ioapic_pin, kIoapicLevelHigh});
    tree.empty("dma-coherent");
    tree.end();
  }
  tree.end();
  return tree.finish();
}

}  // namespace ember::boot
