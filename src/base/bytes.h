// Reading fixed-size values out of untrusted byte buffers (kernel images,
// guest-written data) without alignment or aliasing assumptions.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>

namespace ember {

// The T stored at `offset`, or nullopt if it does not lie wholly inside `bytes`.
template <class T>
std::optional<T> read_at(std::span<const uint8_t> bytes, uint64_t offset) {
  static_assert(std::is_trivially_copyable_v<T>);
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return std::nullopt;
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

}  // namespace ember
