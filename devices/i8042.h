// The part of the i8042 keyboard controller a VMM needs: the status port reads
// "nothing to say", and the pulse-reset command (0xFE to port 0x64), which
// Linux's reboot uses, ends the VM with status 0.
#pragma once

#include "bus/device.h"
#include "machine/outcome.h"

namespace ember {

class I8042 final : public Device {
 public:
  static constexpr uint16_t kDataPort = 0x60;
  static constexpr uint16_t kCommandPort = 0x64;
  explicit I8042(MachineControl& control) : control_{control} {}

  std::string_view name() const override { return "i8042"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

 private:
  MachineControl& control_;
};

}  // namespace ember
