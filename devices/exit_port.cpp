#include "devices/exit_port.h"

namespace ember {

void ExitPort::write(const Access& access, std::span<const uint8_t> data) {
  if (access.offset != 0 || data.empty()) return;
  uint32_t value = 0;
  for (size_t i = 0; i < data.size() && i < sizeof value; ++i) value |= uint32_t{data[i]} << (8 * i);
  const uint32_t status = meaning_ == ExitDevice::Qemu ? (value << 1) | 1 : value;
  control_.request_stop(Outcome{Outcome::Kind::GuestExit, static_cast<uint8_t>(status & 0xff), {}});
}

}  // namespace ember
