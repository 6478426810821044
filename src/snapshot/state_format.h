// The snapshot state file (`ember snapshot`, issue 20): one file of named
// sections, each a run of little-endian fields a device or a VCPU wrote, under
// a header with a format version and a CRC-32C of everything after it.
//
//   header   "EMBERSNP", u32 version, u32 section count, u64 payload bytes,
//            u32 CRC-32C of the payload, u32 zero
//   payload  per section: u16 name length, the name, u64 length, the bytes
//
// A snapshot file is untrusted input (it may be truncated, corrupted, from
// another version, or crafted): StateFile::parse checks the header, the
// checksum and every section's bounds, and a SectionReader refuses to read
// past its section; each device then checks its own values. Every refusal is
// one sentence naming the file's part that is wrong.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace ember::snapshot {

// 2: the PIT's section no longer holds its next IRQ 0; 3: the PCI bus and
// its functions' configuration (pvpanic's BAR and command register).
inline constexpr uint32_t kFormatVersion = 3;

// CRC-32C (Castagnoli), as iSCSI and ext4 use.
uint32_t crc32c(std::span<const uint8_t> bytes, uint32_t crc = 0);

// Appends fields to one section.
class SectionWriter {
 public:
  SectionWriter& u8(uint8_t value) { return put(&value, 1); }
  SectionWriter& u16(uint16_t value) { return put(&value, 2); }
  SectionWriter& u32(uint32_t value) { return put(&value, 4); }
  SectionWriter& u64(uint64_t value) { return put(&value, 8); }
  SectionWriter& boolean(bool value) { return u8(value ? 1 : 0); }
  // A length (u32) and the bytes.
  SectionWriter& bytes(std::span<const uint8_t> value);
  const std::vector<uint8_t>& data() const { return data_; }

 private:
  SectionWriter& put(const void* value, size_t size);  // x86 is little-endian
  std::vector<uint8_t> data_;
};

class StateWriter {
 public:
  // A new section; names are unique ("vcpu0", "ioapic", "virtio-mmio0").
  SectionWriter& section(const std::string& name);
  // The whole file: header and sections, in the order they were begun.
  std::vector<uint8_t> finish() const;

 private:
  std::vector<std::pair<std::string, SectionWriter>> sections_;
};

// Reads one section's fields in order. A read past the end, a boolean that
// is not 0 or 1, or a byte string longer than allowed marks the reader
// failed; its reads then return zeroes, and error() says what went wrong
// first, so a device reads all its fields and checks once.
class SectionReader {
 public:
  SectionReader(std::string name, std::span<const uint8_t> data) : name_{std::move(name)}, data_{data} {}
  uint8_t  u8();
  uint16_t u16();
  uint32_t u32();
  uint64_t u64();
  bool     boolean();
  std::vector<uint8_t> bytes(size_t max_size);
  // Fails the reader with `what` (a device's own check of a value).
  void     refuse(const std::string& what);
  bool     ok() const { return error_.empty(); }
  // The first failure, or that bytes were left over, as one sentence naming
  // the section.
  Result<void> finish() const;

 private:
  bool take(void* value, size_t size);
  template <class T>
  T scalar();  // one little-endian field (x86 is little-endian)
  std::string               name_;
  std::span<const uint8_t>  data_;
  size_t                    at_ = 0;
  std::string               error_;
};

class StateFile {
 public:
  StateFile(StateFile&&) = default;
  StateFile& operator=(StateFile&&) = default;
  StateFile(const StateFile&) = delete;  // the sections point into bytes_
  StateFile& operator=(const StateFile&) = delete;

  // Checks the header, version, checksum and section table of `bytes`.
  static Result<StateFile> parse(std::vector<uint8_t> bytes);
  // The section called `name`, or an error naming it as missing.
  Result<SectionReader> section(std::string_view name) const;
  bool has(std::string_view name) const { return sections_.contains(std::string(name)); }

 private:
  StateFile() = default;
  std::vector<uint8_t>                                      bytes_;
  std::map<std::string, std::span<const uint8_t>, std::less<>> sections_;
};

}  // namespace ember::snapshot
