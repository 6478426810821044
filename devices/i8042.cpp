#include "devices/i8042.h"

namespace ember {
namespace {
constexpr uint8_t kPulseResetLine = 0xfe;
}

void I8042::read(const Access&, std::span<uint8_t> data) {
  // Status and data read as zero: output buffer empty, input buffer empty,
  // so drivers waiting for the controller to be ready see it ready at once.
  (void)data;
}

void I8042::write(const Access& access, std::span<const uint8_t> data) {
  if (access.address == kCommandPort && data.size() == 1 && data[0] == kPulseResetLine) {
    control_.request_stop(Outcome{Outcome::Kind::Reset, 0, "the guest reset the machine through the i8042"});
  }
}

}  // namespace ember
