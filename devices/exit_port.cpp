#include "devices/exit_port.h"

namespace ember {

void ExitPort::write(const Access& access, std::span<const uint8_t> data) {
  // Any access width works; the status is the low byte, as a process exit
  // status has only 8 bits.
  if (access.offset != 0 || data.empty()) return;
  control_.request_stop(Outcome{Outcome::Kind::GuestExit, data[0], {}});
}

}  // namespace ember
