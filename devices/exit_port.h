// The exit port (0xf4): a guest write ends the VM with an exit status.
//  - ember's meaning: byte N gives status N. ember's guest programs use it.
//  - QEMU's (`--exit-device qemu`): as QEMU's isa-debug-exit, the value N
//    written (any width) gives status (N << 1) | 1, so guests built for
//    `-device isa-debug-exit,iobase=0xf4` report the same status under
//    ember. A process exit status keeps only the low 8 bits of either.
#pragma once

#include "platform/address_map.h"
#include "bus/device.h"
#include "machine/machine_config.h"
#include "machine/outcome.h"

namespace ember {

class ExitPort final : public Device {
 public:
  static constexpr uint16_t kPort = platform::kExitPort;
  ExitPort(MachineControl& control, ExitDevice meaning) : control_{control}, meaning_{meaning} {}

  std::string_view name() const override { return "exit-port"; }
  void read(const Access&, std::span<uint8_t>) override {}
  void write(const Access& access, std::span<const uint8_t> data) override;

 private:
  MachineControl& control_;
  ExitDevice      meaning_;
};

}  // namespace ember
