// Walking the guest's own page tables through GuestMemory, to read the
// instruction (and operands) of a guest that KVM could not emulate. Covers
// paging off, 32-bit paging (with 4 MiB pages), PAE, 4-level and 5-level
// paging (with 2 MiB and 1 GiB pages): Intel SDM Vol. 3A ch. 4. An access
// made for the guest is checked as the CPU checks it (SDM 4.6: U/S, R/W with
// CR0.WP, XD with EFER.NXE, SMEP, SMAP) and a violation becomes the page
// fault the CPU would raise, with its error code (SDM 4.7).
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "memory/guest_memory.h"

namespace ember {

// The architectural limit of physical-address bits (SDM 4.1.4).
inline constexpr unsigned kMaxPhysicalAddressBits = 52;

struct PagingState {
  uint64_t cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;
  // The guest's MAXPHYADDR (its CPUID 80000008H EAX[7:0]): a present PAE,
  // 4-level or 5-level entry that sets an address bit at or above it sets
  // a reserved bit (SDM 4.4.2, 4.5.4).
  unsigned physical_address_bits = kMaxPhysicalAddressBits;
};

// One access the guest makes.
struct GuestAccess {
  bool write = false;
  bool fetch = false;       // an instruction fetch
  bool user = false;        // made at CPL 3
  bool alignment_check = false;  // RFLAGS.AC: lets a supervisor access reach user pages under SMAP
};

// Where an access goes: a physical address, the #PF error code the CPU
// would report, or neither when a page table lies outside guest RAM.
struct Translation {
  std::optional<uint64_t> physical;
  std::optional<uint32_t> page_fault;
};

// Page-fault error code bits (SDM 4.7).
inline constexpr uint32_t kPfPresent = 1, kPfWrite = 2, kPfUser = 4, kPfReserved = 8, kPfFetch = 16;

Translation translate_access(const GuestMemory& memory, const PagingState& paging, uint64_t linear, const GuestAccess& access);

// The guest-physical address of `linear` with no permission check, or
// nullopt if a level is not present or a table lies outside guest RAM: for
// reports (disassembly at RIP), not for the guest's own accesses.
std::optional<uint64_t> translate(const GuestMemory& memory, const PagingState& paging, uint64_t linear);

// Reads `out.size()` bytes at `linear`, page by page, unchecked. False if
// any byte is unmapped.
bool read_linear(const GuestMemory& memory, const PagingState& paging, uint64_t linear, std::span<uint8_t> out);

// The same for an access the guest makes: nullopt on success; else the
// fault (its linear address and error code), or a fault with no error code
// when a table or the data lies outside guest RAM.
struct LinearFault {
  uint64_t                address;
  std::optional<uint32_t> error_code;
};
std::optional<LinearFault> read_linear_as(const GuestMemory& memory, const PagingState& paging, uint64_t linear,
                                          std::span<uint8_t> out, const GuestAccess& access);

}  // namespace ember
