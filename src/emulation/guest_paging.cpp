#include "emulation/guest_paging.h"

#include <algorithm>

namespace ember {
namespace {

constexpr uint64_t kCr0Pg = 1ull << 31, kCr4Pse = 1 << 4, kCr4Pae = 1 << 5, kEferLma = 1 << 10;
constexpr uint64_t kPresent = 1, kLargePage = 1 << 7;
constexpr uint64_t kAddressMask = 0x000ffffffffff000;  // bits 51:12 of a PAE/4-level entry

std::optional<uint64_t> entry(const GuestMemory& memory, uint64_t address, bool wide) {
  if (wide) {
    const auto value = memory.read_object<uint64_t>(address);
    if (!value || !(*value & kPresent)) return std::nullopt;
    return value;
  }
  const auto value = memory.read_object<uint32_t>(address);
  if (!value || !(*value & kPresent)) return std::nullopt;
  return *value;
}

}  // namespace

std::optional<uint64_t> translate(const GuestMemory& memory, const PagingState& paging, uint64_t linear) {
  if (!(paging.cr0 & kCr0Pg)) return linear & 0xffffffff;

  if (!(paging.cr4 & kCr4Pae)) {
    // 32-bit paging (SDM 4.3): 10-bit directory and table indices.
    const uint32_t address = static_cast<uint32_t>(linear);
    const auto pde = entry(memory, (paging.cr3 & 0xfffff000) + ((address >> 22) << 2), false);
    if (!pde) return std::nullopt;
    if ((*pde & kLargePage) && (paging.cr4 & kCr4Pse)) return (*pde & 0xffc00000) | (address & 0x3fffff);
    const auto pte = entry(memory, (*pde & 0xfffff000) + (((address >> 12) & 0x3ff) << 2), false);
    if (!pte) return std::nullopt;
    return (*pte & 0xfffff000) | (address & 0xfff);
  }

  uint64_t table;
  int level;
  if (paging.efer & kEferLma) {
    table = paging.cr3 & kAddressMask;  // 4-level paging (SDM 4.5)
    level = 4;
  } else {
    // PAE (SDM 4.4): CR3 names four PDPTEs, indexed by bits 31:30.
    const uint32_t address = static_cast<uint32_t>(linear);
    const auto pdpte = entry(memory, (paging.cr3 & 0xffffffe0) + ((address >> 30) << 3), true);
    if (!pdpte) return std::nullopt;
    table = *pdpte & kAddressMask;
    level = 2;
  }
  for (; level >= 1; --level) {
    const unsigned shift = 12 + 9 * static_cast<unsigned>(level - 1);
    const auto next = entry(memory, table + (((linear >> shift) & 0x1ff) << 3), true);
    if (!next) return std::nullopt;
    if (level == 1) return (*next & kAddressMask) | (linear & 0xfff);
    if ((level == 2 || level == 3) && (*next & kLargePage)) {
      const uint64_t page = (uint64_t{1} << shift) - 1;  // 2 MiB or 1 GiB
      return (*next & kAddressMask & ~page) | (linear & page);
    }
    table = *next & kAddressMask;
  }
  return std::nullopt;
}

bool read_linear(const GuestMemory& memory, const PagingState& paging, uint64_t linear, std::span<uint8_t> out) {
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t address = linear + done;
    const auto physical = translate(memory, paging, address);
    if (!physical) return false;
    const size_t chunk = std::min<size_t>(out.size() - done, 0x1000 - (address & 0xfff));
    if (!memory.read(*physical, out.subspan(done, chunk))) return false;
    done += chunk;
  }
  return true;
}

}  // namespace ember
