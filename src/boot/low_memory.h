// What ember itself keeps in the guest's first MiB, per boot protocol, so a
// loader refuses only an image that would really overlap it, and names what.
// Low RAM outside these areas is ordinary RAM an image may load into (a
// multiboot image at 0x8000, say); addresses are in boot/layout.h.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace ember::boot {

struct LowMemoryUse {
  uint64_t    start;
  uint64_t    end;  // one past the last byte
  const char* what;
};

// A multiboot boot: entered in 32-bit protected mode with paging off, so no
// boot page tables, zero page or boot stack; the kernel's own GDT comes later.
std::span<const LowMemoryUse> multiboot_low_memory();
// Every other protocol (Linux, PVH, 64-bit ELF) keeps the whole first MiB.
std::span<const LowMemoryUse> first_mib_reserved();

// nullopt if [start, end) overlaps none of `uses`; otherwise what it
// overlaps, e.g. "overlaps the multiboot information (0x6000-0x6fff)".
std::optional<std::string> overlap_with(std::span<const LowMemoryUse> uses, uint64_t start, uint64_t end);

}  // namespace ember::boot
