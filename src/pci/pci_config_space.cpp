#include "pci/pci_config_space.h"

#include <cstring>
#include <stdexcept>
#include <string>

namespace ember {

PciConfigSpace::PciConfigSpace(uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision) {
  set_word(kVendorId, vendor);
  set_word(kDeviceId, device);
  bytes_[kRevision] = revision;
  bytes_[kClassCode] = static_cast<uint8_t>(class_code);
  bytes_[kClassCode + 1] = static_cast<uint8_t>(class_code >> 8);
  bytes_[kClassCode + 2] = static_cast<uint8_t>(class_code >> 16);
  bytes_[kHeaderType] = 0;  // type 0, single function
  // Memory decode, bus mastering and INTx disable are the guest's to set;
  // there is no I/O BAR to decode.
  writable_[kCommand] = kCommandMemory | kCommandBusMaster;
  writable_[kCommand + 1] = kCommandInterruptDisable >> 8;
  writable_[kInterruptLine] = 0xff;  // scratch for the OS (PCI 3.0, 6.2.4)
}

void PciConfigSpace::set_subsystem(uint16_t vendor, uint16_t id) {
  set_word(kSubsystemVendorId, vendor);
  set_word(kSubsystemId, id);
}

void PciConfigSpace::set_memory_bar64(uint64_t address, uint64_t size) {
  if (size < 16 || (size & (size - 1)) != 0 || (address & (size - 1)) != 0) {
    throw std::logic_error("a BAR's size is a power of two of at least 16 and its address is aligned to it");
  }
  bar_size_ = size;
  constexpr uint32_t kMemory64 = 0x4;  // bits 2:1 = 10b: anywhere in 64-bit space
  const uint64_t value = address | kMemory64;
  const uint64_t writable = ~(size - 1);  // the address bits above the size
  for (uint32_t i = 0; i < 8; ++i) {
    bytes_[kBar0 + i] = static_cast<uint8_t>(value >> (8 * i));
    writable_[kBar0 + i] = static_cast<uint8_t>(writable >> (8 * i));
  }
  writable_[kBar0] &= 0xf0;  // type and prefetchable bits are read-only
}

uint8_t PciConfigSpace::add_capability(std::span<const uint8_t> body, std::span<const uint8_t> writable) {
  const uint32_t at = next_capability_;
  if (body.size() < 2 || body.size() != writable.size() || at + body.size() > kSize) {
    throw std::logic_error("a capability needs an ID and next byte, a mask as long as it, and room");
  }
  std::memcpy(&bytes_[at], body.data(), body.size());
  std::memcpy(&writable_[at], writable.data(), writable.size());
  bytes_[at + 1] = 0;  // the end of the list, until another follows
  writable_[at] = writable_[at + 1] = 0;
  if (last_capability_ == 0) {
    bytes_[kCapabilitiesPointer] = static_cast<uint8_t>(at);
    set_word(kStatus, word(kStatus) | kStatusCapabilities);
  } else {
    bytes_[last_capability_ + 1] = static_cast<uint8_t>(at);
  }
  last_capability_ = static_cast<uint8_t>(at);
  next_capability_ = static_cast<uint8_t>((at + body.size() + 3) & ~3u);  // dword-aligned (PCI 3.0, 6.7)
  return static_cast<uint8_t>(at);
}

void PciConfigSpace::read(uint32_t offset, std::span<uint8_t> data) const {
  std::memcpy(data.data(), &bytes_[offset], data.size());
}

void PciConfigSpace::write(uint32_t offset, std::span<const uint8_t> data) {
  for (size_t i = 0; i < data.size(); ++i) {
    uint8_t& byte = bytes_[offset + i];
    const uint8_t mask = writable_[offset + i];
    byte = static_cast<uint8_t>((byte & ~mask) | (data[i] & mask));
  }
}

uint16_t PciConfigSpace::word(uint32_t offset) const {
  return static_cast<uint16_t>(bytes_[offset] | bytes_[offset + 1] << 8);
}

uint32_t PciConfigSpace::dword(uint32_t offset) const { return word(offset) | static_cast<uint32_t>(word(offset + 2)) << 16; }

void PciConfigSpace::set_word(uint32_t offset, uint16_t value) {
  bytes_[offset] = static_cast<uint8_t>(value);
  bytes_[offset + 1] = static_cast<uint8_t>(value >> 8);
}

uint64_t PciConfigSpace::bar_address() const {
  return (static_cast<uint64_t>(dword(kBar1)) << 32 | dword(kBar0)) & ~0xfull;
}

void PciConfigSpace::save(snapshot::SectionWriter& out) const { out.bytes(bytes_); }

Result<void> PciConfigSpace::restore(snapshot::SectionReader& in) {
  const auto saved = in.bytes(kSize);
  if (in.ok() && saved.size() != kSize) in.refuse("holds a configuration space of " + std::to_string(saved.size()) + " bytes, not 256");
  for (uint32_t offset = 0; in.ok() && offset < kSize; ++offset) {
    if (((saved[offset] ^ bytes_[offset]) & ~writable_[offset]) != 0) {
      in.refuse("changes configuration byte " + std::to_string(offset) + ", which the guest cannot write");
    }
  }
  if (auto done = in.finish(); !done) return done;
  std::copy(saved.begin(), saved.end(), bytes_.begin());
  return {};
}

}  // namespace ember
