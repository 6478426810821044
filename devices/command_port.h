// ember's command port (0xf6), for boot-once-run-many (issue 20; README,
// "Snapshots"). The project's init, booted by `ember snapshot`, writes the
// port when it is ready and waits for a command: that write is the doorbell
// at which ember pauses the machine and saves it. A machine restored from
// the snapshot continues right after the write, and reads its answer from
// the port a byte at a time:
//
//   u64 the host's wall clock (ns since the epoch, UTC), read at the doorbell
//   u32 the command's length, then the command (a shell command line; empty:
//       none, init starts a shell)
//
// and zeroes after it. (A restored machine's answer is prepared as it is
// restored: set_command.) The guest sets its clock from the first field, so a
// restored guest's `date` is the host's, however old the snapshot.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "bus/device.h"
#include "platform/address_map.h"

namespace ember {

class CommandPort final : public Device {
 public:
  static constexpr uint16_t kPort = platform::kCommandPort;
  using WallClock = std::function<int64_t()>;  // ns since the epoch

  // `on_doorbell` runs on the VCPU thread that wrote the port.
  CommandPort(WallClock wall_clock, std::function<void()> on_doorbell)
      : wall_clock_{std::move(wall_clock)}, on_doorbell_{std::move(on_doorbell)} {}

  // The command a restored guest gets, with the wall clock now: the guest
  // rang before its snapshot was taken and reads its answer at once.
  void set_command(std::string command);

  std::string_view name() const override { return "command-port"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

 private:
  void prepare_answer_locked();

  WallClock             wall_clock_;
  std::function<void()> on_doorbell_;
  std::mutex            mutex_;  // guards the members below
  std::string           command_;
  std::vector<uint8_t>  answer_;
  size_t                read_at_ = 0;
};

}  // namespace ember
