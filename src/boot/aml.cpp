#include "boot/aml.h"

#include <cstdio>
#include <cstdlib>
#include <string>

namespace ember::aml {
namespace {

// Opcodes (ACPI 6.5, 20.3 "AML Byte Stream Byte Values").
constexpr uint8_t kZeroOp = 0x00, kOneOp = 0x01, kNameOp = 0x08, kBytePrefix = 0x0a, kWordPrefix = 0x0b,
                  kDWordPrefix = 0x0c, kStringPrefix = 0x0d, kQWordPrefix = 0x0e, kScopeOp = 0x10, kBufferOp = 0x11,
                  kPackageOp = 0x12, kDualNamePrefix = 0x2e, kMultiNamePrefix = 0x2f, kRootChar = 0x5c,
                  kExtOpPrefix = 0x5b, kDeviceOp = 0x82;

// The encoder's inputs are ember's own constants, never a guest's or a
// user's: a malformed one is a bug in ember, stopped before any guest runs.
[[noreturn]] void invalid(const char* what, std::string_view detail) {
  std::fprintf(stderr, "ember: internal error: AML %s '%.*s'\n", what, static_cast<int>(detail.size()), detail.data());
  std::abort();
}

void append(Bytes& out, const Bytes& more) { out.insert(out.end(), more.begin(), more.end()); }

void append_le(Bytes& out, uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<uint8_t>(value >> (8 * i)));
}

bool valid_segment(std::string_view segment) {
  if (segment.empty() || segment.size() > 4) return false;
  if (segment[0] >= '0' && segment[0] <= '9') return false;
  for (const char c : segment) {
    if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_')) return false;
  }
  return true;
}

// Op PkgLength Body: the shape of every variable-length term.
Bytes with_length(std::initializer_list<uint8_t> opcode, const Bytes& body) {
  Bytes out{opcode};
  append(out, package_length(body.size()));
  append(out, body);
  return out;
}

}  // namespace

Bytes package_length(size_t content) {
  // One byte holds up to 63 in bits 5:0. Longer encodings put the count of
  // following bytes in bits 7:6, the low nibble in bits 3:0, and the rest
  // in the following bytes, least significant first (20.2.4).
  if (content + 1 <= 0x3f) return {static_cast<uint8_t>(content + 1)};
  for (int following = 1; following <= 3; ++following) {
    const size_t total = content + 1 + following;
    if (total < (size_t{1} << (4 + 8 * following))) {
      Bytes out{static_cast<uint8_t>(following << 6 | (total & 0x0f))};
      append_le(out, total >> 4, following);
      return out;
    }
  }
  invalid("package length", std::to_string(content));
}

Bytes name_string(std::string_view path) {
  Bytes out;
  if (!path.empty() && path[0] == '\\') {
    out.push_back(kRootChar);
    path.remove_prefix(1);
  }
  std::vector<std::string_view> segments;
  while (!path.empty()) {
    const size_t dot = path.find('.');
    const std::string_view segment = path.substr(0, dot);
    if (!valid_segment(segment)) invalid("name segment", segment);
    segments.push_back(segment);
    path = dot == std::string_view::npos ? std::string_view{} : path.substr(dot + 1);
    if (dot != std::string_view::npos && path.empty()) invalid("name ending in '.'", segment);
  }
  if (segments.empty()) invalid("empty name", "");
  if (segments.size() > 255) invalid("name with too many segments", "");
  if (segments.size() == 2) out.push_back(kDualNamePrefix);
  if (segments.size() > 2) {
    out.push_back(kMultiNamePrefix);
    out.push_back(static_cast<uint8_t>(segments.size()));
  }
  for (const auto segment : segments) {
    for (size_t i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(i < segment.size() ? segment[i] : '_'));
  }
  return out;
}

Bytes integer(uint64_t value) {
  if (value == 0) return {kZeroOp};
  if (value == 1) return {kOneOp};
  Bytes out;
  if (value <= 0xff) out = {kBytePrefix}, append_le(out, value, 1);
  else if (value <= 0xffff) out = {kWordPrefix}, append_le(out, value, 2);
  else if (value <= 0xffffffff) out = {kDWordPrefix}, append_le(out, value, 4);
  else out = {kQWordPrefix}, append_le(out, value, 8);
  return out;
}

Bytes string(std::string_view text) {
  Bytes out{kStringPrefix};
  for (const char c : text) {
    if (c < 0x01) invalid("string", text);  // char is signed: bytes >= 0x80 are negative
    out.push_back(static_cast<uint8_t>(c));
  }
  out.push_back(0);
  return out;
}

Bytes eisa_id(std::string_view id) {
  // Three letters A-Z in five bits each (A = 1), then four hex digits; the
  // first letter is the most significant, and the bytes go in that order
  // (ACPI 6.5, 19.6.47 EISAID; e.g. PNP0A03 is 0x030AD041).
  auto letter = [&](char c) {
    if (c < 'A' || c > 'Z') invalid("EISA ID", id);
    return static_cast<uint32_t>(c - 'A' + 1);
  };
  auto digit = [&](char c) -> uint32_t {
    if (c >= '0' && c <= '9') return static_cast<uint32_t>(c - '0');
    if (c >= 'A' && c <= 'F') return static_cast<uint32_t>(c - 'A' + 10);
    invalid("EISA ID", id);
  };
  if (id.size() != 7) invalid("EISA ID", id);
  const uint32_t vendor = letter(id[0]) << 10 | letter(id[1]) << 5 | letter(id[2]);
  const uint32_t product = digit(id[3]) << 12 | digit(id[4]) << 8 | digit(id[5]) << 4 | digit(id[6]);
  const uint32_t big_endian = vendor << 16 | product;
  const uint32_t as_stored = __builtin_bswap32(big_endian);
  Bytes out{kDWordPrefix};
  append_le(out, as_stored, 4);
  return out;
}

Bytes buffer(const Bytes& contents) {
  Bytes body = integer(contents.size());
  append(body, contents);
  return with_length({kBufferOp}, body);
}

Bytes package(std::initializer_list<Bytes> elements) {
  if (elements.size() > 255) invalid("package", "more than 255 elements");
  Bytes body{static_cast<uint8_t>(elements.size())};
  for (const auto& element : elements) append(body, element);
  return with_length({kPackageOp}, body);
}

Bytes name(std::string_view path, const Bytes& object) {
  Bytes out{kNameOp};
  append(out, name_string(path));
  append(out, object);
  return out;
}

Bytes scope(std::string_view path, const std::vector<Bytes>& terms) {
  Bytes body = name_string(path);
  for (const auto& term : terms) append(body, term);
  return with_length({kScopeOp}, body);
}

Bytes scope(std::string_view path, std::initializer_list<Bytes> terms) { return scope(path, std::vector<Bytes>(terms)); }

Bytes device(std::string_view device_name, std::initializer_list<Bytes> terms) {
  Bytes body = name_string(device_name);
  for (const auto& term : terms) append(body, term);
  return with_length({kExtOpPrefix, kDeviceOp}, body);
}

namespace resource {
namespace {
// Large resource descriptors: a tag byte, then the length of the rest.
Bytes large(uint8_t tag, const Bytes& body) {
  Bytes out{tag};
  append_le(out, body.size(), 2);
  append(out, body);
  return out;
}
// Address space descriptors (6.4.3.5): general flags MIF | MAF (the range
// is fixed), producer; the type-specific flags are the caller's.
constexpr uint8_t kMemoryRange = 0, kIoRange = 1, kBusNumberRange = 2, kFixedRange = 0x0c;
Bytes word_address(uint8_t type, uint8_t specific, uint16_t first, uint16_t last) {
  Bytes body{type, kFixedRange, specific};
  for (const uint64_t field : {uint64_t{0}, uint64_t{first}, uint64_t{last}, uint64_t{0}, uint64_t{last} - first + 1u}) {
    append_le(body, field, 2);
  }
  return large(0x88, body);
}
}  // namespace

Bytes io_port(uint16_t base, uint8_t length) {
  Bytes out{0x47, 0x01};  // small item 0x08, 7 bytes; 16-bit decode (6.4.2.5)
  append_le(out, base, 2);
  append_le(out, base, 2);
  out.push_back(1);
  out.push_back(length);
  return out;
}

Bytes irq_no_flags(uint8_t irq) {
  if (irq > 15) invalid("IRQ", std::to_string(irq));
  Bytes out{0x22};  // small item 0x04, 2 bytes: the IRQ mask (6.4.2.1)
  append_le(out, 1u << irq, 2);
  return out;
}

Bytes memory32_fixed(uint32_t base, uint32_t length) {
  Bytes body{0x01};  // read-write (6.4.3.4)
  append_le(body, base, 4);
  append_le(body, length, 4);
  return large(0x86, body);
}

Bytes interrupt(uint32_t gsi, Trigger trigger) {
  // Flags (6.4.3.6): bit 0 consumer, bit 1 edge (0: level), bit 2 active
  // low (0: high), bit 3 shared (0: exclusive); then one interrupt number.
  Bytes body{static_cast<uint8_t>(0x01 | (trigger == Trigger::Edge ? 0x02 : 0)), 1};
  append_le(body, gsi, 4);
  return large(0x89, body);
}

Bytes bus_number_range(uint16_t first, uint16_t last) { return word_address(kBusNumberRange, 0, first, last); }
Bytes io_range(uint16_t first, uint16_t last) { return word_address(kIoRange, 0x03, first, last); }  // ISA and non-ISA ranges

Bytes memory_range(uint32_t first, uint32_t last) {
  Bytes body{kMemoryRange, kFixedRange, 0x01};  // read-write, non-cacheable
  for (const uint64_t field : {uint64_t{0}, uint64_t{first}, uint64_t{last}, uint64_t{0}, uint64_t{last} - first + 1u}) {
    append_le(body, field, 4);
  }
  return large(0x87, body);
}

Bytes end_tag() { return {0x79, 0x00}; }  // checksum 0: "treated as if the checksum operation succeeded" (6.4.2.9)

Bytes template_of(std::initializer_list<Bytes> descriptors) {
  Bytes contents;
  for (const auto& descriptor : descriptors) append(contents, descriptor);
  append(contents, end_tag());
  return buffer(contents);
}
}  // namespace resource

}  // namespace ember::aml
