// Small formatting and parsing helpers (GCC 12's libstdc++ has no <format>).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ember {

// "0x1f0" style, lowercase, no padding.
std::string hex(uint64_t value);

// Human-readable byte count: "128 MiB", "4 KiB", "3 bytes".
std::string format_size(uint64_t bytes);

// Parses a decimal unsigned integer with no sign, no spaces and no overflow.
std::optional<uint64_t> parse_decimal(std::string_view text);

// Parses a size: a decimal number with an optional binary suffix K, M, G or T
// (case-insensitive, optional trailing "iB"/"B"). A bare number is in MiB,
// as with QEMU's -m. Overflow yields nullopt.
std::optional<uint64_t> parse_size(std::string_view text);

// `text` safe to print to a terminal: control bytes (below 0x20, and 0x7f)
// become \xNN. For text from untrusted files, such as a snapshot's paths.
std::string printable(std::string_view text);

// "a,b,,c" split at each `separator`: {"a", "b", "", "c"}; "" gives {}.
std::vector<std::string_view> split(std::string_view text, char separator);

}  // namespace ember
