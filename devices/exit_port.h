// ember's exit port (0xf4): a guest `out` of byte N ends the VM with process
// exit status N. The guest test programs report through it.
#pragma once

#include "bus/device.h"
#include "machine/outcome.h"

namespace ember {

class ExitPort final : public Device {
 public:
  static constexpr uint16_t kPort = 0xf4;
  explicit ExitPort(MachineControl& control) : control_{control} {}

  std::string_view name() const override { return "exit-port"; }
  void read(const Access&, std::span<uint8_t>) override {}
  void write(const Access& access, std::span<const uint8_t> data) override;

 private:
  MachineControl& control_;
};

}  // namespace ember
