// Walking the guest's own page tables through GuestMemory, to read the
// instruction (and operands) of a guest that KVM could not emulate. Covers
// paging off, 32-bit paging (with 4 MiB pages), PAE and 4-level paging
// (with 2 MiB and 1 GiB pages): Intel SDM Vol. 3A ch. 4.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "memory/guest_memory.h"

namespace ember {

struct PagingState {
  uint64_t cr0 = 0, cr3 = 0, cr4 = 0, efer = 0;
};

// The guest-physical address of `linear`, or nullopt if a level is not
// present or a table lies outside guest RAM.
std::optional<uint64_t> translate(const GuestMemory& memory, const PagingState& paging, uint64_t linear);

// Reads `out.size()` bytes at `linear`, page by page. False if any byte is
// unmapped.
bool read_linear(const GuestMemory& memory, const PagingState& paging, uint64_t linear, std::span<uint8_t> out);

}  // namespace ember
