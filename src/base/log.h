// Diagnostics on stderr, prefixed "ember: ". Anything a guest can trigger goes
// through a RateLimiter so a hostile guest cannot flood the host's logs.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>

namespace ember::log {

void error(std::string_view message);
void warning(std::string_view message);

// Allows `burst` messages per second from one call site; when a new second
// starts it reports how many were dropped in the one before.
class RateLimiter final {
 public:
  explicit RateLimiter(uint32_t burst = 10) : burst_{burst} {}
  bool allow();

 private:
  std::mutex                            mutex_;  // guards the three members below
  std::chrono::steady_clock::time_point window_start_{};
  uint32_t                              used_ = 0;
  uint64_t                              dropped_ = 0;
  const uint32_t                        burst_;
};

}  // namespace ember::log

// Logs a guest-triggered error (a write the guest asked for failed on the
// host), at most 10 a second from this line.
#define EMBER_GUEST_ERROR(message)                                \
  do {                                                            \
    static ::ember::log::RateLimiter ember_rate_limiter_;         \
    if (ember_rate_limiter_.allow()) ::ember::log::error(message); \
  } while (0)

// Logs a guest-triggered warning, at most 10 a second from this line.
#define EMBER_GUEST_WARNING(message)                              \
  do {                                                            \
    static ::ember::log::RateLimiter ember_rate_limiter_;         \
    if (ember_rate_limiter_.allow()) ::ember::log::warning(message); \
  } while (0)
