// PCI bus 0 of the machine: configuration mechanism #1 on ports 0xcf8-0xcff
// (PCI Local Bus 3.0, 3.2.2.3.2), a host bridge at 00:00.0 so operating
// systems trust the mechanism (Linux's pci_sanity_check looks for one), and
// one MMIO window where the functions' memory BARs live.
//
// Only bus 0 and function 0 of each slot exist; everything else reads as
// all-ones (no device) and ignores writes. Each function has at most one
// memory BAR; the window device sends an access to the function whose BAR,
// as the guest last programmed it and with memory decoding on, holds it.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bus/device.h"
#include "pci/pci_config_space.h"
#include "platform/address_map.h"
#include "snapshot/state_format.h"

namespace ember {

class PciFunction {
 public:
  virtual ~PciFunction() = default;
  virtual std::string_view name() const = 0;
  // 1, 2 or 4 bytes inside the 256-byte space, naturally aligned.
  virtual void config_read(uint32_t offset, std::span<uint8_t> data) = 0;
  virtual void config_write(uint32_t offset, std::span<const uint8_t> data) = 0;
  // The memory range the function decodes now, if any.
  struct Window {
    uint64_t address;
    uint64_t size;
  };
  virtual std::optional<Window> decoded_memory() { return std::nullopt; }
  // An access inside decoded_memory(), by offset from its start.
  virtual void bar_read(uint64_t /*offset*/, std::span<uint8_t> data, uint32_t /*vcpu*/) { std::fill(data.begin(), data.end(), 0xff); }
  virtual void bar_write(uint64_t /*offset*/, std::span<const uint8_t> /*data*/, uint32_t /*vcpu*/) {}
  // Snapshot state (snapshot/state_format.h, issue 20): what the guest
  // programmed. A function whose state is not saved here (virtio-pci, whose
  // machines `ember snapshot` refuses: machine/snapshot.cpp) saves nothing
  // and refuses a restore.
  virtual void         save(snapshot::SectionWriter& /*out*/) {}
  virtual Result<void> restore(snapshot::SectionReader& in) {
    in.refuse(std::string("is for ") + std::string(name()) + ", which a snapshot cannot hold");
    return in.finish();
  }
};

// A function whose configuration space holds nothing but its registers:
// every access goes to the space under one lock, and its memory BAR (if
// any) decodes where the guest put it while memory decoding is on.
class PciPlainFunction : public PciFunction {
 public:
  explicit PciPlainFunction(const PciConfigSpace& config) : config_{config} {}
  void                  config_read(uint32_t offset, std::span<uint8_t> data) override;
  void                  config_write(uint32_t offset, std::span<const uint8_t> data) override;
  std::optional<Window> decoded_memory() override;
  void                  save(snapshot::SectionWriter& out) override;
  Result<void>          restore(snapshot::SectionReader& in) override;

 private:
  std::mutex     mutex_;  // guards config_
  PciConfigSpace config_;
};

// 00:00.0: a host bridge with nothing to configure.
class PciHostBridge final : public PciPlainFunction {
 public:
  PciHostBridge();
  std::string_view name() const override { return "pci-host-bridge"; }
};

class PciBus {
 public:
  static constexpr uint16_t kConfigAddressPort = platform::kPciConfigPort;
  static constexpr uint16_t kPortCount = platform::kPciConfigPortCount;
  static constexpr unsigned kSlots = platform::kPciSlots;
  // Where BARs go: in the MMIO hole, clear of virtio-mmio (0xd0000000) and
  // the IOAPIC (0xfec00000). 16 MiB: 31 functions of 512 KiB at most.
  static constexpr uint64_t kWindowBase = platform::kPciWindowBase;
  static constexpr uint64_t kWindowSize = platform::kPciWindowSize;

  PciBus();

  // Whether `window` lies wholly inside the bus's MMIO window, the only
  // place a BAR decodes (elsewhere no access reaches the bus).
  static bool in_window(const PciFunction::Window& window) {
    return window.address >= kWindowBase && window.size <= kWindowSize &&
           window.address - kWindowBase <= kWindowSize - window.size;
  }

  // Slot 0 holds the host bridge; returns the slot used, nullopt when full.
  std::optional<unsigned> add(PciFunction& function);

  // Told when a configuration write changes a function's decoded memory
  // (the guest moved its BAR or switched memory decoding), with the window
  // before and after. Runs on the writing VCPU's thread, one call at a time
  // (under the configuration lock). Set before VCPUs run.
  using WindowListener = std::function<void(PciFunction&, std::optional<PciFunction::Window> before,
                                            std::optional<PciFunction::Window> after)>;
  void set_window_listener(WindowListener listener) { window_listener_ = std::move(listener); }

  Device& config_ports() { return ports_; }

  // Snapshot state: CONFIG_ADDRESS in section "pci", each function's in
  // "pci-slotN". Restored before any VCPU runs. Each function's restore
  // changes nothing when it refuses; the bus's stops at the first refusal
  // (as Machine::restore_state does for the chips), and the machine is
  // then never run.
  void         save(snapshot::StateWriter& out);
  Result<void> restore(const snapshot::StateFile& in);
  Device& window() { return window_; }

 private:
  class ConfigPorts final : public Device {
   public:
    explicit ConfigPorts(PciBus& bus) : bus_{bus} {}
    std::string_view name() const override { return "pci-config"; }
    void read(const Access& access, std::span<uint8_t> data) override;
    void write(const Access& access, std::span<const uint8_t> data) override;

   private:
    PciBus& bus_;
  };
  class Window final : public Device {
   public:
    explicit Window(PciBus& bus) : bus_{bus} {}
    std::string_view name() const override { return "pci-window"; }
    void read(const Access& access, std::span<uint8_t> data) override;
    void write(const Access& access, std::span<const uint8_t> data) override;

   private:
    PciBus& bus_;
  };

  // The function and config offset the address register selects, if the
  // data port access at `port_offset` (0-3) of `size` bytes reaches one.
  PciFunction* selected(uint32_t address, unsigned port_offset, size_t size, uint32_t& offset) const;
  // The function decoding [address, address + size), and the offset in it.
  PciFunction* decoding(uint64_t address, size_t size, uint64_t& offset) const;

  PciHostBridge              host_bridge_;
  std::vector<PciFunction*>  slots_;  // fixed before VCPUs run
  // CONFIG_ADDRESS's bits (enable, bus, device, function, register); the
  // rest are reserved and read as zero (PCI 3.0, 3.2.2.3.2).
  static constexpr uint32_t kConfigAddressBits = 0x80fffffc;
  std::mutex                 address_mutex_;
  uint32_t                   address_ = 0;  // CONFIG_ADDRESS (0xcf8)
  WindowListener             window_listener_;
  ConfigPorts                ports_{*this};
  Window                     window_{*this};
};

}  // namespace ember
