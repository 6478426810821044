#include "devices/pvpanic_pci.h"

#include <algorithm>
#include <string>

namespace ember {

namespace {
constexpr uint16_t kRedHatVendor = 0x1b36, kPvpanicDevice = 0x0011;
constexpr uint32_t kClassSystemOther = 0x088000;  // base class 08h (system peripheral), subclass 80h (other)

PciConfigSpace pvpanic_config_space(uint64_t bar_address) {
  PciConfigSpace config{kRedHatVendor, kPvpanicDevice, kClassSystemOther, 1};
  config.set_subsystem(kRedHatVendor, kPvpanicDevice);
  config.set_memory_bar64(bar_address, PvpanicPci::kBarSize);
  return config;
}

}  // namespace

PvpanicPci::PvpanicPci(MachineControl& control, uint64_t bar_address)
    : PciPlainFunction{pvpanic_config_space(bar_address)}, control_{control} {}

void PvpanicPci::bar_read(uint64_t offset, std::span<uint8_t> data, uint32_t) {
  // Byte 0 lists the events the device handles; the rest reads as zero.
  std::fill(data.begin(), data.end(), 0);
  if (offset == 0 && !data.empty()) data[0] = kPanicked;
}

void PvpanicPci::bar_write(uint64_t offset, std::span<const uint8_t> data, uint32_t vcpu) {
  if (offset != 0 || data.empty() || (data[0] & kPanicked) == 0) return;
  control_.request_stop(Outcome{Outcome::Kind::GuestPanic, 0,
                                "the guest kernel panicked (it said so through pvpanic, from VCPU " + std::to_string(vcpu) + ")"});
}

}  // namespace ember
