#include "pci/pci_bus.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/log.h"

namespace ember {
namespace {

// CONFIG_ADDRESS (PCI 3.0, figure 3-2).
constexpr uint32_t kEnable = 1u << 31;
constexpr uint32_t bus_of(uint32_t address) { return (address >> 16) & 0xff; }
constexpr uint32_t slot_of(uint32_t address) { return (address >> 11) & 0x1f; }
constexpr uint32_t function_of(uint32_t address) { return (address >> 8) & 0x7; }
constexpr uint32_t register_of(uint32_t address) { return address & 0xfc; }

// Cloud Hypervisor's and Firecracker's host bridge IDs; no OS keys on them,
// Linux checks the class.
constexpr uint16_t kIntelVendor = 0x8086, kHostBridgeDevice = 0x0d57;
constexpr uint32_t kHostBridgeClass = 0x060000;

}  // namespace

void PciPlainFunction::config_read(uint32_t offset, std::span<uint8_t> data) {
  std::lock_guard lock{mutex_};
  config_.read(offset, data);
}

void PciPlainFunction::config_write(uint32_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock{mutex_};
  config_.write(offset, data);
}

std::optional<PciFunction::Window> PciPlainFunction::decoded_memory() {
  std::lock_guard lock{mutex_};
  if (!config_.memory_enabled() || config_.bar_size() == 0) return std::nullopt;  // no BAR, nothing decodes
  return Window{config_.bar_address(), config_.bar_size()};
}

PciHostBridge::PciHostBridge() : PciPlainFunction{PciConfigSpace{kIntelVendor, kHostBridgeDevice, kHostBridgeClass, 0}} {}

void PciPlainFunction::save(snapshot::SectionWriter& out) {
  std::lock_guard lock{mutex_};
  config_.save(out);
}

Result<void> PciPlainFunction::restore(snapshot::SectionReader& in) {
  std::lock_guard lock{mutex_};
  return config_.restore(in);
}

PciBus::PciBus() : slots_(kSlots, nullptr) { slots_[0] = &host_bridge_; }

void PciBus::save(snapshot::StateWriter& out) {
  {
    std::lock_guard lock{address_mutex_};
    out.section("pci").u32(address_);
  }
  for (size_t slot = 0; slot < slots_.size(); ++slot) {
    if (slots_[slot] != nullptr) slots_[slot]->save(out.section("pci-slot" + std::to_string(slot)));
  }
}

Result<void> PciBus::restore(const snapshot::StateFile& in) {
  auto section = in.section("pci");
  if (!section) return Error{"its state file " + section.error().message};
  const uint32_t address = section->u32();
  if ((address & ~kConfigAddressBits) != 0) section->refuse("has CONFIG_ADDRESS reserved bits set, which no guest can set");
  if (auto done = section->finish(); !done) return done;
  for (size_t slot = 0; slot < slots_.size(); ++slot) {
    const std::string name = "pci-slot" + std::to_string(slot);
    if (slots_[slot] == nullptr) {
      if (in.has(name)) return Error{"its state file has a section " + name + " for an empty PCI slot"};
      continue;
    }
    auto function = in.section(name);
    if (!function) return Error{"its state file " + function.error().message};
    if (auto done = slots_[slot]->restore(*function); !done) return done;
  }
  std::lock_guard lock{address_mutex_};
  address_ = address;
  return {};
}

std::optional<unsigned> PciBus::add(PciFunction& function) {
  for (unsigned slot = 1; slot < kSlots; ++slot) {
    if (slots_[slot] == nullptr) {
      slots_[slot] = &function;
      return slot;
    }
  }
  return std::nullopt;
}

PciFunction* PciBus::selected(uint32_t address, unsigned port_offset, size_t size, uint32_t& offset) const {
  if ((address & kEnable) == 0 || bus_of(address) != 0 || function_of(address) != 0) return nullptr;
  // The data port is a dword window: an access must stay inside it.
  if (port_offset + size > 4 || (size != 1 && size != 2 && size != 4) || port_offset % size != 0) return nullptr;
  offset = register_of(address) + port_offset;
  return slots_[slot_of(address)];
}

void PciBus::ConfigPorts::read(const Access& access, std::span<uint8_t> data) {
  std::fill(data.begin(), data.end(), 0xff);  // no device answers
  std::lock_guard lock{bus_.address_mutex_};
  if (access.offset < 4) {
    // CONFIG_ADDRESS is read as a whole dword (Linux's probe reads it back).
    if (access.offset == 0 && data.size() == 4) std::memcpy(data.data(), &bus_.address_, 4);
    return;
  }
  uint32_t offset = 0;
  if (PciFunction* function = bus_.selected(bus_.address_, static_cast<unsigned>(access.offset - 4), data.size(), offset)) {
    function->config_read(offset, data);
  }
}

void PciBus::ConfigPorts::write(const Access& access, std::span<const uint8_t> data) {
  std::lock_guard lock{bus_.address_mutex_};
  if (access.offset < 4) {
    // Only dword writes reach CONFIG_ADDRESS (PCI 3.0, 3.2.2.3.2); byte
    // writes to 0xcfb are the old mechanism #2 probe and change nothing.
    if (access.offset == 0 && data.size() == 4) {
      uint32_t value;
      std::memcpy(&value, data.data(), 4);
      bus_.address_ = value & kConfigAddressBits;  // reserved bits read as zero
    }
    return;
  }
  uint32_t offset = 0;
  if (PciFunction* function = bus_.selected(bus_.address_, static_cast<unsigned>(access.offset - 4), data.size(), offset)) {
    const auto before = function->decoded_memory();
    function->config_write(offset, data);
    const auto after = function->decoded_memory();
    const auto same = [](const auto& a, const auto& b) {
      return a.has_value() == b.has_value() && (!a || (a->address == b->address && a->size == b->size));
    };
    if (bus_.window_listener_ && !same(before, after)) bus_.window_listener_(*function, before, after);
  }
}

PciFunction* PciBus::decoding(uint64_t address, size_t size, uint64_t& offset) const {
  for (PciFunction* function : slots_) {
    if (function == nullptr) continue;
    const auto window = function->decoded_memory();
    if (window && address >= window->address && address - window->address < window->size &&
        size <= window->size - (address - window->address)) {
      offset = address - window->address;
      return function;
    }
  }
  return nullptr;
}

void PciBus::Window::read(const Access& access, std::span<uint8_t> data) {
  uint64_t offset = 0;
  if (PciFunction* function = bus_.decoding(access.address, data.size(), offset)) {
    function->bar_read(offset, data, access.vcpu);
    return;
  }
  std::fill(data.begin(), data.end(), 0xff);
  EMBER_GUEST_WARNING("pci: read at " + std::to_string(access.address) + " where no BAR decodes");
}

void PciBus::Window::write(const Access& access, std::span<const uint8_t> data) {
  uint64_t offset = 0;
  if (PciFunction* function = bus_.decoding(access.address, data.size(), offset)) {
    function->bar_write(offset, data, access.vcpu);
    return;
  }
  EMBER_GUEST_WARNING("pci: write at " + std::to_string(access.address) + " where no BAR decodes; dropped");
}

}  // namespace ember
