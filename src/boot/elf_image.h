// Reading ELF executables, 32- or 64-bit, into one neutral form, and copying
// their PT_LOAD segments into guest RAM with every offset, size and address
// checked (System V gABI, "Program Header"). Used by the ELF loader (vmlinux,
// ember's guest programs) and the multiboot loader.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "boot/image_bytes.h"
#include "boot/load_error.h"
#include "boot/low_memory.h"
#include "memory/guest_memory.h"

namespace ember::boot {

struct ProgramHeader {
  uint32_t type;
  uint64_t offset, virtual_address, physical_address, file_size, memory_size;
};

struct ElfImage {
  bool                       is64;
  uint16_t                   machine;  // e_machine
  uint64_t                   entry;    // e_entry
  std::vector<ProgramHeader> program_headers;
};

bool looks_like_elf(std::span<const uint8_t> image);

// Checks the identification, that it is a little-endian executable, and that
// every program header lies inside the file. Errors read after "kernel 'x' ".
// The ELF header must be in image.head(); the program headers may lie
// anywhere in the file.
LoadResult<ElfImage> parse_elf(const ImageBytes& image);

struct LoadedSegment {
  uint64_t physical_address;
  uint64_t virtual_address;
  uint64_t memory_size;
};

// Copies every non-empty PT_LOAD segment to its physical address and zeroes
// its tail (bss). Refused: file bytes past the end of the file, more file
// than memory bytes, ranges that wrap, overlap what ember keeps in low memory
// for this protocol (`reserved`, boot/low_memory.h), lie outside RAM or
// overlap each other.
LoadResult<std::vector<LoadedSegment>> load_segments(const GuestMemory& memory, const ImageBytes& image,
                                                 const ElfImage& elf, std::span<const LowMemoryUse> reserved);

// `address` as a physical address inside a loaded segment: physical
// addresses as they are, virtual ones translated through their segment.
std::optional<uint64_t> physical_in_segments(const std::vector<LoadedSegment>& segments, uint64_t address);

// The contents of segment `header` (checked by parse_elf), read into host
// memory: for small segments such as PT_NOTE; larger than `limit` bytes is
// refused.
LoadResult<std::vector<uint8_t>> read_segment(const ImageBytes& image, const ProgramHeader& header, uint64_t limit);

}  // namespace ember::boot
