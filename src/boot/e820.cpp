#include "boot/e820.h"

#include "boot/layout.h"

namespace ember::boot {

std::vector<E820Entry> e820_map(const GuestMemory& memory) {
  std::vector<E820Entry> map;
  for (const auto& region : memory.regions()) {
    const uint64_t end = region.guest_address + region.size;
    if (region.guest_address < layout::kHighMemory && end > layout::kHighMemory) {
      map.push_back({region.guest_address, layout::kEbdaStart - region.guest_address, kE820Ram});
      map.push_back({layout::kEbdaStart, layout::kHighMemory - layout::kEbdaStart, kE820Reserved});
      map.push_back({layout::kHighMemory, end - layout::kHighMemory, kE820Ram});
    } else {
      map.push_back({region.guest_address, region.size, kE820Ram});
    }
  }
  return map;
}

}  // namespace ember::boot
