// Where things live in the guest-physical address space.
//
//   [0, 3 GiB)           RAM (as much as --memory asks for)
//   [3 GiB, 4 GiB)       MMIO hole: IOAPIC 0xfec00000, LAPIC 0xfee00000, devices
//   [4 GiB, ...)         the rest of RAM when --memory exceeds 3 GiB
//
// The hole keeps 32-bit device addresses free, as on a PC; RAM that would fall
// into it is moved above 4 GiB instead of being lost.
#pragma once

#include "platform/address_map.h"

#include <cstdint>
#include <vector>

namespace ember {

inline constexpr uint64_t kPageSize      = 4096;
inline constexpr uint64_t kMmioHoleStart = platform::kMmioHoleStart;
inline constexpr uint64_t kMmioHoleEnd   = platform::kMmioHoleEnd;

struct RamRegion {
  uint64_t guest_address;
  uint64_t size;
  bool operator==(const RamRegion&) const = default;
};

// Splits `ram_size` bytes of RAM around the MMIO hole. ram_size must be a
// non-zero multiple of kPageSize (the CLI validates this).
std::vector<RamRegion> ram_regions_for(uint64_t ram_size);

}  // namespace ember
