#include "snapshot/state_format.h"

#include <array>
#include <cstring>

namespace ember::snapshot {
namespace {

constexpr char kMagic[8] = {'E', 'M', 'B', 'E', 'R', 'S', 'N', 'P'};
constexpr size_t kHeaderSize = 8 + 4 + 4 + 8 + 4 + 4;
constexpr size_t kMaxSections = 4096;
constexpr size_t kMaxNameLength = 64;

std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t crc = i;
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ ((crc & 1) != 0 ? 0x82f63b78u : 0);  // reflected Castagnoli
    table[i] = crc;
  }
  return table;
}

template <class T>
T load(const uint8_t* at) {
  T value;
  std::memcpy(&value, at, sizeof value);
  return value;
}

}  // namespace

uint32_t crc32c(std::span<const uint8_t> bytes, uint32_t crc) {
  static const auto table = make_crc_table();
  crc = ~crc;
  for (const uint8_t byte : bytes) crc = table[(crc ^ byte) & 0xff] ^ (crc >> 8);
  return ~crc;
}

SectionWriter& SectionWriter::put(const void* value, size_t size) {
  const auto* bytes = static_cast<const uint8_t*>(value);
  data_.insert(data_.end(), bytes, bytes + size);
  return *this;
}

SectionWriter& SectionWriter::bytes(std::span<const uint8_t> value) {
  u32(static_cast<uint32_t>(value.size()));
  data_.insert(data_.end(), value.begin(), value.end());
  return *this;
}

SectionWriter& StateWriter::section(const std::string& name) {
  sections_.emplace_back(name, SectionWriter{});
  return sections_.back().second;
}

std::vector<uint8_t> StateWriter::finish() const {
  std::vector<uint8_t> payload;
  for (const auto& [name, section] : sections_) {
    const auto name_length = static_cast<uint16_t>(name.size());
    const uint64_t length = section.data().size();
    payload.insert(payload.end(), reinterpret_cast<const uint8_t*>(&name_length), reinterpret_cast<const uint8_t*>(&name_length) + 2);
    payload.insert(payload.end(), name.begin(), name.end());
    payload.insert(payload.end(), reinterpret_cast<const uint8_t*>(&length), reinterpret_cast<const uint8_t*>(&length) + 8);
    payload.insert(payload.end(), section.data().begin(), section.data().end());
  }
  std::vector<uint8_t> file(kHeaderSize);
  std::memcpy(file.data(), kMagic, 8);
  const uint32_t version = kFormatVersion, count = static_cast<uint32_t>(sections_.size()), crc = crc32c(payload), zero = 0;
  const uint64_t payload_bytes = payload.size();
  std::memcpy(file.data() + 8, &version, 4);
  std::memcpy(file.data() + 12, &count, 4);
  std::memcpy(file.data() + 16, &payload_bytes, 8);
  std::memcpy(file.data() + 24, &crc, 4);
  std::memcpy(file.data() + 28, &zero, 4);
  file.insert(file.end(), payload.begin(), payload.end());
  return file;
}

bool SectionReader::take(void* value, size_t size) {
  if (!error_.empty() || data_.size() - at_ < size) {
    if (error_.empty()) error_ = "ends early";
    std::memset(value, 0, size);
    return false;
  }
  std::memcpy(value, data_.data() + at_, size);
  at_ += size;
  return true;
}

template <class T>
T SectionReader::scalar() {
  T value;
  take(&value, sizeof value);  // zero after a failure
  return value;
}

uint8_t  SectionReader::u8() { return scalar<uint8_t>(); }
uint16_t SectionReader::u16() { return scalar<uint16_t>(); }
uint32_t SectionReader::u32() { return scalar<uint32_t>(); }
uint64_t SectionReader::u64() { return scalar<uint64_t>(); }

bool SectionReader::boolean() {
  const uint8_t value = u8();
  if (value > 1) refuse("holds " + std::to_string(value) + " where a boolean (0 or 1) belongs");
  return value == 1;
}

std::vector<uint8_t> SectionReader::bytes(size_t max_size) {
  const uint32_t size = u32();
  if (size > max_size) {
    refuse("holds a byte string of " + std::to_string(size) + " bytes where at most " + std::to_string(max_size) + " belong");
    return {};
  }
  std::vector<uint8_t> value(size);
  if (size > 0 && !take(value.data(), size)) return {};
  return value;
}

void SectionReader::refuse(const std::string& what) {
  if (error_.empty()) error_ = what;
}

Result<void> SectionReader::finish() const {
  if (!error_.empty()) return Error{"the snapshot's section '" + name_ + "' " + error_};
  if (at_ != data_.size()) {
    return Error{"the snapshot's section '" + name_ + "' has " + std::to_string(data_.size() - at_) + " bytes more than its fields"};
  }
  return {};
}

Result<StateFile> StateFile::parse(std::vector<uint8_t> bytes) {
  if (bytes.size() < kHeaderSize || std::memcmp(bytes.data(), kMagic, 8) != 0) {
    return Error{"is not an ember snapshot state file (no EMBERSNP header)"};
  }
  const auto version = load<uint32_t>(bytes.data() + 8);
  if (version != kFormatVersion) {
    return Error{"has format version " + std::to_string(version) + "; this ember reads version " + std::to_string(kFormatVersion)};
  }
  if (load<uint32_t>(bytes.data() + 28) != 0) return Error{"has a header this ember does not know (a reserved field is set)"};
  const auto count = load<uint32_t>(bytes.data() + 12);
  const auto payload_bytes = load<uint64_t>(bytes.data() + 16);
  if (payload_bytes != bytes.size() - kHeaderSize) {
    return Error{"is " + std::to_string(bytes.size()) + " bytes, but its header says " + std::to_string(payload_bytes + kHeaderSize) +
                 " (truncated or extended)"};
  }
  const std::span<const uint8_t> payload{bytes.data() + kHeaderSize, bytes.size() - kHeaderSize};
  if (crc32c(payload) != load<uint32_t>(bytes.data() + 24)) return Error{"is corrupted: its checksum does not match"};
  if (count > kMaxSections) return Error{"claims " + std::to_string(count) + " sections"};
  StateFile file;
  size_t at = 0;
  for (uint32_t i = 0; i < count; ++i) {
    if (payload.size() - at < 2) return Error{"ends inside its section table"};
    const auto name_length = load<uint16_t>(payload.data() + at);
    at += 2;
    if (name_length == 0 || name_length > kMaxNameLength || payload.size() - at < name_length + 8u) {
      return Error{"has a malformed section name"};
    }
    std::string name(reinterpret_cast<const char*>(payload.data() + at), name_length);
    at += name_length;
    const auto length = load<uint64_t>(payload.data() + at);
    at += 8;
    if (length > payload.size() - at) return Error{"has a section '" + name + "' longer than the file"};
    if (file.sections_.contains(name)) return Error{"has two sections named '" + name + "'"};
    file.sections_.emplace(std::move(name), payload.subspan(at, length));
    at += length;
  }
  if (at != payload.size()) return Error{"has " + std::to_string(payload.size() - at) + " bytes after its last section"};
  file.bytes_ = std::move(bytes);  // the spans point into the same heap buffer, which moves with it
  return file;
}

Result<SectionReader> StateFile::section(std::string_view name) const {
  const auto found = sections_.find(name);
  if (found == sections_.end()) return Error{"has no section '" + std::string(name) + "'"};
  return SectionReader{found->first, found->second};
}

}  // namespace ember::snapshot
