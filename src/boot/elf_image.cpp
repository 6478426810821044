#include "boot/elf_image.h"

#include <elf.h>

#include <cstring>
#include <optional>
#include <string>

#include "base/bytes.h"
#include "base/strings.h"
#include "boot/layout.h"

namespace ember::boot {
namespace {

constexpr uint16_t kMaxProgramHeaders = 128;

// The two classes differ only in field widths and order; Header and Phdr are
// Elf32_* or Elf64_*.
template <class Header, class Phdr>
LoadResult<ElfImage> parse_class(const ImageBytes& image, bool is64) {
  const auto header = read_at<Header>(image.head(), 0);
  if (!header) return LoadError{LoadFault::kTruncated, "is truncated: its ELF header is incomplete"};
  if (header->e_type != ET_EXEC) return LoadError{LoadFault::kUnsupported, "is not an executable ELF image (e_type " + std::to_string(header->e_type) + ")"};
  if (header->e_phentsize != sizeof(Phdr)) return LoadError{LoadFault::kUnsupported, "has program headers of an unexpected size"};
  if (header->e_phnum == 0 || header->e_phnum > kMaxProgramHeaders) {
    return LoadError{LoadFault::kUnsupported, "has " + std::to_string(header->e_phnum) + " program headers (ember accepts 1 to " +
                 std::to_string(kMaxProgramHeaders) + ")"};
  }
  ElfImage elf{is64, header->e_machine, header->e_entry, {}};
  // The table is read whole first: from a file, one read instead of one per
  // header.
  const uint64_t table_offset = header->e_phoff, table_size = uint64_t{header->e_phnum} * sizeof(Phdr);
  if (table_offset > image.size() || table_size > image.size() - table_offset) {
    return LoadError{LoadFault::kTruncated, "is truncated: its program headers lie past the end of the file"};
  }
  std::vector<uint8_t> table(table_size);
  if (auto read = image.copy(table_offset, table); !read) return read.error();
  for (uint16_t i = 0; i < header->e_phnum; ++i) {
    const auto ph = read_at<Phdr>(table, uint64_t{i} * sizeof(Phdr)).value();
    uint64_t file_end = 0;
    if (__builtin_add_overflow(uint64_t{ph.p_offset}, uint64_t{ph.p_filesz}, &file_end) || file_end > image.size()) {
      return LoadError{LoadFault::kTruncated, "is truncated: segment " + std::to_string(i) + " runs past the end of the file"};
    }
    elf.program_headers.push_back({ph.p_type, ph.p_offset, ph.p_vaddr, ph.p_paddr, ph.p_filesz, ph.p_memsz});
  }
  return elf;
}

}  // namespace

bool looks_like_elf(std::span<const uint8_t> image) {
  return image.size() >= SELFMAG && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0;
}

LoadResult<ElfImage> parse_elf(const ImageBytes& bytes) {
  const auto image = bytes.head();
  if (image.size() < EI_NIDENT || !looks_like_elf(image)) return LoadError{LoadFault::kUnknownFormat, "is not an ELF image (truncated header or bad magic)"};
  if (image[EI_DATA] != ELFDATA2LSB) return LoadError{LoadFault::kUnsupported, "is a big-endian ELF image"};
  switch (image[EI_CLASS]) {
    case ELFCLASS32:
      return parse_class<Elf32_Ehdr, Elf32_Phdr>(bytes, false);
    case ELFCLASS64:
      return parse_class<Elf64_Ehdr, Elf64_Phdr>(bytes, true);
    default:
      return LoadError{LoadFault::kUnsupported, "has an unknown ELF class " + std::to_string(image[EI_CLASS])};
  }
}

LoadResult<std::vector<uint8_t>> read_segment(const ImageBytes& image, const ProgramHeader& header, uint64_t limit) {
  if (header.file_size > limit) {
    const std::string which = header.type == PT_NOTE ? "a PT_NOTE segment" : "a segment of type " + std::to_string(header.type);
    return LoadError{LoadFault::kUnsupported, "has " + which + " of " + format_size(header.file_size) + "; ember reads such segments up to " +
                 format_size(limit)};
  }
  std::vector<uint8_t> bytes(header.file_size);
  if (auto read = image.copy(header.offset, bytes); !read) return read.error();
  return bytes;
}

LoadResult<std::vector<LoadedSegment>> load_segments(const GuestMemory& memory, const ImageBytes& image,
                                                 const ElfImage& elf, std::span<const LowMemoryUse> reserved) {
  std::vector<LoadedSegment> segments;
  for (size_t i = 0; i < elf.program_headers.size(); ++i) {
    const auto& ph = elf.program_headers[i];
    if (ph.type != PT_LOAD || ph.memory_size == 0) continue;
    const std::string which = "segment " + std::to_string(i);
    if (ph.file_size > ph.memory_size) return LoadError{LoadFault::kInconsistent, "has " + which + " with more file bytes than memory bytes"};
    uint64_t end = 0;
    if (__builtin_add_overflow(ph.physical_address, ph.memory_size, &end)) {
      return LoadError{LoadFault::kInconsistent, "has " + which + " whose address range wraps 2^64"};
    }
    if (const auto overlap = overlap_with(reserved, ph.physical_address, end)) {
      return LoadError{LoadFault::kOverlapsReserved, "has " + which + " at " + hex(ph.physical_address) + "-" + hex(end - 1) + ", which " + *overlap};
    }
    if (!memory.contains(ph.physical_address, ph.memory_size)) {
      return LoadError{LoadFault::kDoesNotFit, "has " + which + " at " + hex(ph.physical_address) + "-" + hex(end - 1) + ", outside the guest's " +
                   format_size(memory.total_size()) + " of RAM"};
    }
    for (const auto& other : segments) {
      if (ph.physical_address < other.physical_address + other.memory_size && other.physical_address < end) {
        return LoadError{LoadFault::kInconsistent, "has " + which + " overlapping the segment at " + hex(other.physical_address)};
      }
    }
    auto target = memory.slice(ph.physical_address, ph.memory_size);
    if (auto read = image.copy(ph.offset, target.first(ph.file_size)); !read) return read.error();
    std::memset(target.data() + ph.file_size, 0, target.size() - ph.file_size);
    segments.push_back({ph.physical_address, ph.virtual_address, ph.memory_size});
  }
  if (segments.empty()) return LoadError{LoadFault::kUnsupported, "has no loadable segment"};
  return segments;
}

std::optional<uint64_t> physical_in_segments(const std::vector<LoadedSegment>& segments, uint64_t address) {
  for (const auto& s : segments) {
    if (address - s.physical_address < s.memory_size) return address;
  }
  for (const auto& s : segments) {
    if (address - s.virtual_address < s.memory_size) return s.physical_address + (address - s.virtual_address);
  }
  return std::nullopt;
}

}  // namespace ember::boot
