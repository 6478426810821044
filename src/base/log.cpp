#include "base/log.h"

#include <unistd.h>

#include <string>

namespace ember::log {
namespace {

// One write(2) per line so lines from different threads never interleave.
void emit(std::string_view level, std::string_view message) {
  std::string line = "ember: ";
  line += level;
  line += message;
  line += '\n';
  [[maybe_unused]] const auto written = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace

void error(std::string_view message) { emit("error: ", message); }
void warning(std::string_view message) { emit("warning: ", message); }

bool RateLimiter::allow() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock{mutex_};
  if (now - window_start_ >= std::chrono::seconds{1}) {
    if (dropped_ > 0) warning("(" + std::to_string(dropped_) + " similar messages suppressed)");
    window_start_ = now;
    used_ = 0;
    dropped_ = 0;
  }
  if (used_ < burst_) {
    ++used_;
    return true;
  }
  ++dropped_;
  return false;
}

}  // namespace ember::log
