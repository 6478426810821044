#include "devices/pvpanic_pci.h"

#include <algorithm>
#include <string>

namespace ember {

namespace {
constexpr uint16_t kRedHatVendor = 0x1b36, kPvpanicDevice = 0x0011;
constexpr uint32_t kClassSystemOther = 0x088000;  // base class 08h (system peripheral), subclass 80h (other)
}  // namespace

PvpanicPci::PvpanicPci(MachineControl& control, uint64_t bar_address)
    : control_{control}, config_{kRedHatVendor, kPvpanicDevice, kClassSystemOther, 1} {
  config_.set_subsystem(kRedHatVendor, kPvpanicDevice);
  config_.set_memory_bar64(bar_address, kBarSize);
}

void PvpanicPci::config_read(uint32_t offset, std::span<uint8_t> data) {
  std::lock_guard lock{mutex_};
  config_.read(offset, data);
}

void PvpanicPci::config_write(uint32_t offset, std::span<const uint8_t> data) {
  std::lock_guard lock{mutex_};
  config_.write(offset, data);
}

std::optional<PciFunction::Window> PvpanicPci::decoded_memory() {
  std::lock_guard lock{mutex_};
  if (!config_.memory_enabled()) return std::nullopt;
  return Window{config_.bar_address(), config_.bar_size()};
}

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
