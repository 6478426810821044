// QEMU's pvpanic PCI device (docs/specs/pvpanic.rst; vendor 0x1b36, device
// 0x0011): a guest kernel that panics writes PVPANIC_PANICKED (bit 0) to the
// first byte of BAR 0, and the run ends with its own outcome instead of
// looking like the reboot that panic=-1 makes next. Linux drives it with
// CONFIG_PVPANIC_PCI (drivers/misc/pvpanic/pvpanic-pci.c), which reads the
// same byte first to learn which events the device supports.
//
// Only PANICKED is offered. CRASH_LOADED (bit 1: a kdump kernel is about to
// take over) is not, so such a guest is never stopped on its way to kdump.
#pragma once

#include "pci/pci_bus.h"
#include "pci/pci_config_space.h"
#include "run/outcome.h"

namespace ember {

class PvpanicPci final : public PciPlainFunction {
 public:
  static constexpr uint8_t  kPanicked = 1 << 0;
  static constexpr uint64_t kBarSize = 16;  // the smallest memory BAR (PCI 3.0, 6.2.5.1)

  PvpanicPci(MachineControl& control, uint64_t bar_address);

  std::string_view name() const override { return "pvpanic-pci"; }
  void             bar_read(uint64_t offset, std::span<uint8_t> data, uint32_t vcpu) override;
  void             bar_write(uint64_t offset, std::span<const uint8_t> data, uint32_t vcpu) override;

 private:
  MachineControl& control_;
};

}  // namespace ember
