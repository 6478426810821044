#include "boot/elf_loader.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "base/strings.h"
#include "boot/boot_params.h"
#include "boot/e820.h"
#include "boot/layout.h"
#include "boot/placement.h"

namespace ember::boot {
namespace {

constexpr uint16_t kMaxProgramHeaders = 128;

template <class T>
std::optional<T> read_at(std::span<const uint8_t> bytes, uint64_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) return std::nullopt;
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

struct Segment {
  uint64_t guest_address;
  uint64_t virtual_address;
  uint64_t memory_size;
};

// Finds the PVH entry in a PT_NOTE segment: a note named "Xen" of type
// XEN_ELFNOTE_PHYS32_ENTRY whose descriptor is the 32-bit physical entry.
std::optional<uint64_t> find_pvh_entry(std::span<const uint8_t> notes) {
  uint64_t offset = 0;
  while (offset + 12 <= notes.size()) {
    const auto name_size = read_at<uint32_t>(notes, offset).value();
    const auto desc_size = read_at<uint32_t>(notes, offset + 4).value();
    const auto type = read_at<uint32_t>(notes, offset + 8).value();
    const uint64_t name_offset = offset + 12;
    const uint64_t desc_offset = name_offset + ((uint64_t{name_size} + 3) & ~uint64_t{3});
    const uint64_t next = desc_offset + ((uint64_t{desc_size} + 3) & ~uint64_t{3});
    if (next > notes.size()) return std::nullopt;
    if (type == kXenElfnotePhys32Entry && name_size == 4 && std::memcmp(notes.data() + name_offset, "Xen", 4) == 0) {
      if (desc_size == 4) return read_at<uint32_t>(notes, desc_offset);
      if (desc_size == 8) return read_at<uint64_t>(notes, desc_offset);
      return std::nullopt;
    }
    offset = next;
  }
  return std::nullopt;
}

Result<uint64_t> write_pvh_start_info(const GuestMemory& memory, uint64_t cmdline, std::optional<HvmModlistEntry> module) {
  HvmStartInfo info{};
  info.magic = kHvmStartMagic;
  info.version = 1;
  info.cmdline_paddr = cmdline;
  uint64_t next = layout::kPvhStartInfo + sizeof(HvmStartInfo);
  if (module) {
    info.nr_modules = 1;
    info.modlist_paddr = next;
    if (!memory.write_object(next, *module)) return Error{"guest RAM is too small for the PVH module list"};
    next += sizeof(HvmModlistEntry);
  }
  const auto map = e820_map(memory);
  info.memmap_paddr = next;
  info.memmap_entries = static_cast<uint32_t>(map.size());
  for (const auto& range : map) {
    const HvmMemmapEntry entry{range.address, range.size, range.type, 0};
    if (!memory.write_object(next, entry)) return Error{"guest RAM is too small for the PVH memory map"};
    next += sizeof(HvmMemmapEntry);
  }
  if (next > layout::kZeroPage) return Error{"the PVH start info outgrew its page"};
  if (!memory.write_object(layout::kPvhStartInfo, info)) return Error{"guest RAM is too small for the PVH start info"};
  return layout::kPvhStartInfo;
}

}  // namespace

bool looks_like_elf(std::span<const uint8_t> image) {
  return image.size() >= SELFMAG && std::memcmp(image.data(), ELFMAG, SELFMAG) == 0;
}

Result<EntryPoint> load_elf(const GuestMemory& memory, const BootInputs& inputs) {
  const auto image = inputs.kernel;
  const auto header = read_at<Elf64_Ehdr>(image, 0);
  if (!header || !looks_like_elf(image)) return Error{"is not an ELF image (truncated header or bad magic)"};
  if (header->e_ident[EI_CLASS] != ELFCLASS64) return Error{"is a 32-bit ELF image; ember loads ELF64 kernels"};
  if (header->e_ident[EI_DATA] != ELFDATA2LSB) return Error{"is a big-endian ELF image"};
  if (header->e_machine != EM_X86_64) return Error{"is an ELF image for machine " + std::to_string(header->e_machine) + ", not x86-64"};
  if (header->e_type != ET_EXEC) return Error{"is not an executable ELF image (e_type " + std::to_string(header->e_type) + ")"};
  if (header->e_phentsize != sizeof(Elf64_Phdr)) return Error{"has program headers of an unexpected size"};
  if (header->e_phnum == 0 || header->e_phnum > kMaxProgramHeaders) {
    return Error{"has " + std::to_string(header->e_phnum) + " program headers (ember accepts 1 to " +
                 std::to_string(kMaxProgramHeaders) + ")"};
  }

  std::vector<Segment> segments;
  std::optional<uint64_t> pvh_entry;
  uint64_t highest_end = layout::kHighMemory;
  for (uint16_t i = 0; i < header->e_phnum; ++i) {
    const auto ph = read_at<Elf64_Phdr>(image, header->e_phoff + uint64_t{i} * sizeof(Elf64_Phdr));
    if (!ph || header->e_phoff > image.size()) return Error{"is truncated: program header " + std::to_string(i) + " lies past the end of the file"};
    const std::string which = "segment " + std::to_string(i);
    uint64_t file_end = 0;
    if (__builtin_add_overflow(ph->p_offset, ph->p_filesz, &file_end) || file_end > image.size()) {
      return Error{"is truncated: " + which + " runs past the end of the file"};
    }
    const auto contents = image.subspan(ph->p_offset, ph->p_filesz);
    if (ph->p_type == PT_NOTE && !pvh_entry) pvh_entry = find_pvh_entry(contents);
    if (ph->p_type != PT_LOAD || ph->p_memsz == 0) continue;

    if (ph->p_filesz > ph->p_memsz) return Error{"has " + which + " with more file bytes than memory bytes"};
    uint64_t end = 0;
    if (__builtin_add_overflow(ph->p_paddr, ph->p_memsz, &end)) return Error{"has " + which + " whose address range wraps 2^64"};
    if (ph->p_paddr < layout::kHighMemory) {
      return Error{"has " + which + " at " + hex(ph->p_paddr) + ", below 1 MiB where ember keeps boot structures"};
    }
    if (!memory.contains(ph->p_paddr, ph->p_memsz)) {
      return Error{"has " + which + " at " + hex(ph->p_paddr) + "-" + hex(end - 1) + ", outside the guest's " +
                   format_size(memory.total_size()) + " of RAM"};
    }
    for (const auto& other : segments) {
      if (ph->p_paddr < other.guest_address + other.memory_size && other.guest_address < end) {
        return Error{"has " + which + " overlapping the segment at " + hex(other.guest_address)};
      }
    }
    auto target = memory.slice(ph->p_paddr, ph->p_memsz);
    std::memcpy(target.data(), contents.data(), contents.size());
    std::memset(target.data() + contents.size(), 0, target.size() - contents.size());
    segments.push_back({ph->p_paddr, ph->p_vaddr, ph->p_memsz});
    highest_end = std::max(highest_end, end);
  }
  if (segments.empty()) return Error{"has no loadable segment"};

  // e_entry is physical for vmlinux and for ember's programs; accept a
  // virtual one too and translate it through its segment.
  const auto entry_in = [&](uint64_t address) -> std::optional<uint64_t> {
    for (const auto& s : segments) {
      if (address - s.guest_address < s.memory_size) return address;
      if (address - s.virtual_address < s.memory_size) return s.guest_address + (address - s.virtual_address);
    }
    return std::nullopt;
  };

  const uint64_t cmdline_limit = kLinuxCommandLineSize;
  auto cmdline = write_cmdline(memory, inputs.cmdline, cmdline_limit);
  if (!cmdline) return cmdline.error();

  std::optional<uint64_t> initrd;
  if (!inputs.initrd.empty()) {
    auto placed = place_initrd(memory, inputs.initrd, highest_end, kMmioHoleStart - 1);
    if (!placed) return placed.error();
    initrd = *placed;
  }

  if (pvh_entry) {
    const auto entry = entry_in(*pvh_entry);
    if (!entry) return Error{"has a PVH entry point " + hex(*pvh_entry) + " outside every loaded segment"};
    std::optional<HvmModlistEntry> module;
    if (initrd) module = HvmModlistEntry{*initrd, inputs.initrd.size(), 0, 0};
    auto start_info = write_pvh_start_info(memory, *cmdline, module);
    if (!start_info) return start_info.error();
    return EntryPoint{EntryMode::Protected32, *entry, *start_info};
  }

  const auto entry = entry_in(header->e_entry);
  if (!entry) return Error{"has its entry point " + hex(header->e_entry) + " outside every loaded segment"};
  // A setup header as a bootloader would present it, so a vmlinux entered at
  // startup_64 and ember's guest programs read the same boot_params.
  BootParams params{};
  params.hdr.boot_flag = kBootFlag;
  params.hdr.header = kHeaderMagic;
  params.hdr.version = 0x020f;
  params.hdr.type_of_loader = kLoaderUndefined;
  params.hdr.loadflags = kLoadedHigh;
  params.hdr.cmd_line_ptr = static_cast<uint32_t>(*cmdline);
  params.hdr.cmdline_size = static_cast<uint32_t>(cmdline_limit - 1);
  params.hdr.kernel_alignment = 0x1000000;
  if (initrd) {
    params.hdr.ramdisk_image = static_cast<uint32_t>(*initrd);
    params.hdr.ramdisk_size = static_cast<uint32_t>(inputs.initrd.size());
  }
  if (auto zero_page = write_zero_page(memory, params); !zero_page) return zero_page.error();
  return EntryPoint{EntryMode::Long64, *entry, layout::kZeroPage};
}

}  // namespace ember::boot
