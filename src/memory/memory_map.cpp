#include "memory/memory_map.h"

#include <algorithm>

namespace ember {

std::vector<RamRegion> ram_regions_for(uint64_t ram_size) {
  std::vector<RamRegion> regions;
  const uint64_t low = std::min(ram_size, kMmioHoleStart);
  regions.push_back({0, low});
  if (ram_size > low) regions.push_back({kMmioHoleEnd, ram_size - low});
  return regions;
}

}  // namespace ember
