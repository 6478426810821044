// A PCI function's 256-byte configuration space (PCI Local Bus 3.0, 6.1):
// the type 0 header, at most one 64-bit memory BAR (BAR0/1), and a
// capability list. Every byte has a mask of the bits the guest may write,
// so BAR sizing (write all-ones, read back) and read-only fields need no
// special cases: the BAR's low bits below its size are simply read-only.
//
// Not thread-safe: its owner serialises accesses.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "base/result.h"
#include "snapshot/state_format.h"

namespace ember {

class PciConfigSpace {
 public:
  static constexpr uint32_t kSize = 256;
  // Header offsets (PCI 3.0, figure 6-1).
  static constexpr uint32_t kVendorId = 0x00, kDeviceId = 0x02, kCommand = 0x04, kStatus = 0x06, kRevision = 0x08,
                            kClassCode = 0x09, kHeaderType = 0x0e, kBar0 = 0x10, kBar1 = 0x14, kSubsystemVendorId = 0x2c,
                            kSubsystemId = 0x2e, kCapabilitiesPointer = 0x34, kInterruptLine = 0x3c, kInterruptPin = 0x3d;
  static constexpr uint16_t kCommandMemory = 1 << 1, kCommandBusMaster = 1 << 2, kCommandInterruptDisable = 1 << 10;
  static constexpr uint16_t kStatusCapabilities = 1 << 4;

  // class_code: base class << 16 | subclass << 8 | programming interface.
  PciConfigSpace(uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision);

  void set_subsystem(uint16_t vendor, uint16_t id);
  // BAR0 (with BAR1 as its high half): 64-bit, non-prefetchable memory of
  // `size` bytes (a power of two, at least 16) at `address`, as firmware
  // would have assigned it. Decoded only while the command register's
  // memory bit is set.
  void set_memory_bar64(uint64_t address, uint64_t size);
  // Appends a capability: `body` from its ID byte on (the next pointer,
  // byte 1, is filled in here) and which bits of it the guest may write.
  // Returns its offset in the space.
  uint8_t add_capability(std::span<const uint8_t> body, std::span<const uint8_t> writable);

  // Accesses of 1, 2 or 4 bytes inside the space; the caller checks that.
  void read(uint32_t offset, std::span<uint8_t> data) const;
  void write(uint32_t offset, std::span<const uint8_t> data);

  uint8_t  byte(uint32_t offset) const { return bytes_[offset]; }
  uint16_t word(uint32_t offset) const;
  uint32_t dword(uint32_t offset) const;
  // Sets read-only state the device itself owns (e.g. a capability field).
  void     set_word(uint32_t offset, uint16_t value);

  uint64_t bar_address() const;  // BAR0/1 as the guest left it, type bits cleared
  uint64_t bar_size() const { return bar_size_; }
  bool     memory_enabled() const { return (word(kCommand) & kCommandMemory) != 0; }

  // Snapshot state (snapshot/state_format.h, issue 20): the 256 bytes.
  // restore refuses a space that differs from this one outside the bits the
  // guest may write, and then changes nothing.
  void         save(snapshot::SectionWriter& out) const;
  Result<void> restore(snapshot::SectionReader& in);

 private:
  std::array<uint8_t, kSize> bytes_{};
  std::array<uint8_t, kSize> writable_{};
  uint64_t                   bar_size_ = 0;
  uint8_t                    next_capability_ = 0x40;  // after the header
  uint8_t                    last_capability_ = 0;
};

}  // namespace ember
