// The exit port (0xf4): a guest write ends the VM with an exit status.
//  - ember's meaning: byte N gives status N. ember's guest programs use it.
//  - QEMU's (`--exit-device qemu`): as QEMU's isa-debug-exit, the value N
//    written (any width) gives status (N << 1) | 1, so guests built for
//    `-device isa-debug-exit,iobase=0xf4` report the same status under
//    ember. A process exit status keeps only the low 8 bits of either.
#pragma once

#include "bus/device.h"
#include "platform/address_map.h"
#include "run/outcome.h"

namespace ember {

// What a guest's write to port 0xf4 means.
enum class ExitDevice {
  Ember,  // byte N: exit status N
  Qemu,   // value N: exit status (N << 1) | 1, as QEMU's isa-debug-exit
};

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
