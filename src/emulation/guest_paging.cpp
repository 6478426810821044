#include "emulation/guest_paging.h"

#include <algorithm>

namespace ember {
namespace {

constexpr uint64_t kCr0Pg = 1ull << 31, kCr0Wp = 1ull << 16;
constexpr uint64_t kCr4Pse = 1 << 4, kCr4Pae = 1 << 5, kCr4La57 = 1 << 12, kCr4Smep = 1 << 20, kCr4Smap = 1 << 21;
constexpr uint64_t kEferNxe = 1 << 11, kEferLma = 1 << 10;
constexpr uint64_t kPresent = 1, kWritable = 1 << 1, kUser = 1 << 2, kLargePage = 1 << 7, kExecuteDisable = 1ull << 63;
constexpr uint64_t kAddressMask = 0x000ffffffffff000;  // bits 51:12 of a PAE/4-level entry

// What the walk found: the physical address and what every level allowed
// (SDM 4.6: an access needs the permission at every level).
struct Walk {
  std::optional<uint64_t> physical;
  bool                    not_present = false;  // a level's P bit is clear
  bool                    reserved = false;     // a present entry sets a reserved bit
  bool                    writable = true, user = true, executable = true;
};

std::optional<uint64_t> read_entry(const GuestMemory& memory, uint64_t address, bool wide) {
  if (wide) return memory.read_object<uint64_t>(address);
  const auto value = memory.read_object<uint32_t>(address);
  if (!value) return std::nullopt;
  return uint64_t{*value};
}

// The reserved bits of a present entry beyond those the walk checks by
// its kind (SDM Tables 4-8 to 4-20, "Reserved (must be 0)"): the address
// bits from MAXPHYADDR up, to 51 in 4-level and 5-level paging (62:52 are
// ignored there), to 62 in PAE paging; a PAE PDPTE also reserves 63, 8:5
// and 2:1.
uint64_t reserved_bits(const PagingState& paging, bool pae_pdpte) {
  const unsigned bits = std::clamp(paging.physical_address_bits, 32u, kMaxPhysicalAddressBits);
  const uint64_t from_maxphyaddr = ~((uint64_t{1} << bits) - 1);
  if (paging.efer & kEferLma) return from_maxphyaddr & kAddressMask;
  if (pae_pdpte) return from_maxphyaddr | 0x1e6;  // 63:MAXPHYADDR, 8:5, 2:1
  return from_maxphyaddr & ~kExecuteDisable;     // 62:MAXPHYADDR; XD is take()'s
}

// Folds one present entry's permissions into the walk.
void take(Walk& walk, uint64_t entry, bool has_permissions, const PagingState& paging) {
  if (!has_permissions) return;  // PAE PDPTEs carry none (SDM 4.4.1)
  walk.writable = walk.writable && (entry & kWritable);
  walk.user = walk.user && (entry & kUser);
  if (entry & kExecuteDisable) {
    if (paging.efer & kEferNxe) walk.executable = false;
    else walk.reserved = true;  // XD is reserved without EFER.NXE (SDM 4.5, Table 4-20)
  }
}

// `checked`: stop at the first reserved bit, as the CPU does (SDM 4.7); a
// report's unchecked read walks on to wherever the entries point.
Walk walk_tables(const GuestMemory& memory, const PagingState& paging, uint64_t linear, bool checked) {
  Walk walk;
  if (!(paging.cr0 & kCr0Pg)) {
    walk.physical = linear & 0xffffffff;
    return walk;
  }
  if (!(paging.cr4 & kCr4Pae)) {
    // 32-bit paging (SDM 4.3): 10-bit directory and table indices.
    const uint32_t address = static_cast<uint32_t>(linear);
    const auto pde = read_entry(memory, (paging.cr3 & 0xfffff000) + ((address >> 22) << 2), false);
    if (!pde) return walk;
    if (!(*pde & kPresent)) { walk.not_present = true; return walk; }
    walk.writable = *pde & kWritable;
    walk.user = *pde & kUser;
    if ((*pde & kLargePage) && (paging.cr4 & kCr4Pse)) {
      walk.physical = (*pde & 0xffc00000) | (address & 0x3fffff);
      return walk;
    }
    const auto pte = read_entry(memory, (*pde & 0xfffff000) + (((address >> 12) & 0x3ff) << 2), false);
    if (!pte) return walk;
    if (!(*pte & kPresent)) { walk.not_present = true; return walk; }
    walk.writable = walk.writable && (*pte & kWritable);
    walk.user = walk.user && (*pte & kUser);
    walk.physical = (*pte & 0xfffff000) | (address & 0xfff);
    return walk;
  }

  uint64_t table;
  int level;
  if (paging.efer & kEferLma) {
    table = paging.cr3 & kAddressMask;  // 4-level or, with CR4.LA57, 5-level paging (SDM 4.5)
    level = (paging.cr4 & kCr4La57) ? 5 : 4;
  } else {
    // PAE (SDM 4.4): CR3 names four PDPTEs, indexed by bits 31:30.
    const uint32_t address = static_cast<uint32_t>(linear);
    const auto pdpte = read_entry(memory, (paging.cr3 & 0xffffffe0) + ((address >> 30) << 3), true);
    if (!pdpte) return walk;
    if (!(*pdpte & kPresent)) { walk.not_present = true; return walk; }
    if (*pdpte & reserved_bits(paging, true)) walk.reserved = true;
    take(walk, *pdpte, false, paging);
    if (walk.reserved && checked) return walk;  // the walk stops at the first reserved bit (SDM 4.7)
    table = *pdpte & kAddressMask;
    level = 2;
  }
  for (; level >= 1; --level) {
    const unsigned shift = 12 + 9 * static_cast<unsigned>(level - 1);
    const auto next = read_entry(memory, table + (((linear >> shift) & 0x1ff) << 3), true);
    if (!next) return walk;
    if (!(*next & kPresent)) { walk.not_present = true; return walk; }
    if (*next & reserved_bits(paging, false)) walk.reserved = true;
    take(walk, *next, true, paging);
    if (walk.reserved && checked) return walk;
    if (level == 1) {
      walk.physical = (*next & kAddressMask) | (linear & 0xfff);
      return walk;
    }
    if (*next & kLargePage) {
      if (level >= 4) {  // no large pages in a PML4E or PML5E: PS is reserved there
        walk.reserved = true;
        return walk;
      }
      // 2 MiB or 1 GiB page: the address bits below the page size, above
      // the PAT bit (12), are reserved (SDM Tables 4-17 and 4-15).
      const uint64_t page = (uint64_t{1} << shift) - 1;
      if ((*next & page & ~uint64_t{0x1fff}) != 0) walk.reserved = true;
      walk.physical = (*next & kAddressMask & ~page) | (linear & page);
      return walk;
    }
    table = *next & kAddressMask;
  }
  return walk;
}

}  // namespace

Translation translate_access(const GuestMemory& memory, const PagingState& paging, uint64_t linear, const GuestAccess& access) {
  const Walk walk = walk_tables(memory, paging, linear, true);
  // The error code's access bits (SDM 4.7); I/D only where execute
  // permissions exist (EFER.NXE in PAE and 4-level paging, or CR4.SMEP).
  const bool paging_on = paging.cr0 & kCr0Pg;
  const bool fetch_bit = access.fetch && paging_on && (((paging.efer & kEferNxe) && (paging.cr4 & kCr4Pae)) || (paging.cr4 & kCr4Smep));
  const uint32_t access_bits = (access.write ? kPfWrite : 0) | (access.user ? kPfUser : 0) | (fetch_bit ? kPfFetch : 0);
  if (walk.not_present) return {std::nullopt, access_bits};
  if (walk.reserved) return {std::nullopt, access_bits | kPfPresent | kPfReserved};
  if (!walk.physical) return {};  // a table outside guest RAM
  if (paging_on) {
    bool allowed = true;
    if (access.user) {
      allowed = walk.user && (!access.write || walk.writable);
    } else {
      if (access.write && (paging.cr0 & kCr0Wp) && !walk.writable) allowed = false;
      if (walk.user && access.fetch && (paging.cr4 & kCr4Smep)) allowed = false;
      if (walk.user && !access.fetch && (paging.cr4 & kCr4Smap) && !access.alignment_check) allowed = false;
    }
    if (access.fetch && !walk.executable) allowed = false;
    if (!allowed) return {std::nullopt, access_bits | kPfPresent};
  }
  return {walk.physical, std::nullopt};
}

std::optional<uint64_t> translate(const GuestMemory& memory, const PagingState& paging, uint64_t linear) {
  const Walk walk = walk_tables(memory, paging, linear, false);
  if (walk.not_present) return std::nullopt;
  return walk.physical;
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

std::optional<LinearFault> read_linear_as(const GuestMemory& memory, const PagingState& paging, uint64_t linear,
                                          std::span<uint8_t> out, const GuestAccess& access) {
  size_t done = 0;
  while (done < out.size()) {
    const uint64_t address = linear + done;
    const Translation translation = translate_access(memory, paging, address, access);
    if (translation.page_fault) return LinearFault{address, translation.page_fault};
    const size_t chunk = std::min<size_t>(out.size() - done, 0x1000 - (address & 0xfff));
    if (!translation.physical || !memory.read(*translation.physical, out.subspan(done, chunk))) {
      return LinearFault{address, std::nullopt};
    }
    done += chunk;
  }
  return std::nullopt;
}

}  // namespace ember
