#include "boot/elf_loader.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

#include "base/bytes.h"
#include "base/strings.h"
#include "boot/boot_params.h"
#include "boot/e820.h"
#include "boot/elf_image.h"
#include "boot/layout.h"
#include "boot/placement.h"

namespace ember::boot {
namespace {

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

LoadResult<uint64_t> write_pvh_start_info(const GuestMemory& memory, uint64_t cmdline, std::optional<HvmModlistEntry> module) {
  HvmStartInfo info{};
  info.magic = kHvmStartMagic;
  info.version = 1;
  info.cmdline_paddr = cmdline;
  uint64_t next = layout::kPvhStartInfo + sizeof(HvmStartInfo);
  if (module) {
    info.nr_modules = 1;
    info.modlist_paddr = next;
    if (!memory.write_object(next, *module)) return LoadError{LoadFault::kDoesNotFit, "guest RAM is too small for the PVH module list"};
    next += sizeof(HvmModlistEntry);
  }
  const auto map = e820_map(memory);
  info.memmap_paddr = next;
  info.memmap_entries = static_cast<uint32_t>(map.size());
  for (const auto& range : map) {
    const HvmMemmapEntry entry{range.address, range.size, range.type, 0};
    if (!memory.write_object(next, entry)) return LoadError{LoadFault::kDoesNotFit, "guest RAM is too small for the PVH memory map"};
    next += sizeof(HvmMemmapEntry);
  }
  if (next > layout::kZeroPage) return LoadError{LoadFault::kDoesNotFit, "the PVH start info outgrew its page"};
  if (!memory.write_object(layout::kPvhStartInfo, info)) return LoadError{LoadFault::kDoesNotFit, "guest RAM is too small for the PVH start info"};
  return layout::kPvhStartInfo;
}

}  // namespace

LoadResult<EntryPoint> load_elf(const GuestMemory& memory, const BootInputs& inputs) {
  const auto& image = inputs.kernel;
  if (image.head().size() > EI_CLASS && image.head()[EI_CLASS] == ELFCLASS32) {
    return LoadError{LoadFault::kUnsupported, "is a 32-bit ELF image without a multiboot header; ember loads ELF64 kernels"};
  }
  auto elf = parse_elf(image);
  if (!elf) return elf.error();
  if (elf->machine != EM_X86_64) return LoadError{LoadFault::kUnsupported, "is an ELF image for machine " + std::to_string(elf->machine) + ", not x86-64"};

  std::optional<uint64_t> pvh_entry;
  for (const auto& ph : elf->program_headers) {
    if (ph.type != PT_NOTE || pvh_entry) continue;
    // Linux's notes are a few hundred bytes.
    auto notes = read_segment(image, ph, 1 << 20);
    if (!notes) return notes.error();
    pvh_entry = find_pvh_entry(*notes);
  }
  auto segments = load_segments(memory, image, *elf, first_mib_reserved());
  if (!segments) return segments.error();
  uint64_t highest_end = layout::kHighMemory;
  for (const auto& s : *segments) highest_end = std::max(highest_end, s.physical_address + s.memory_size);
  const auto entry_in = [&](uint64_t address) { return physical_in_segments(*segments, address); };

  const uint64_t cmdline_limit = kLinuxCommandLineSize;
  auto cmdline = write_cmdline(memory, inputs.cmdline, cmdline_limit);
  if (!cmdline) return cmdline.error();

  std::optional<uint64_t> initrd;
  if (!inputs.initrd.empty()) {
    auto placed = place_high(memory, inputs.initrd, highest_end, kMmioHoleStart - 1, describe_initrd(inputs.initrd_name));
    if (!placed) return placed.error();
    initrd = *placed;
  }

  if (pvh_entry) {
    const auto entry = entry_in(*pvh_entry);
    if (!entry) return LoadError{LoadFault::kInconsistent, "has a PVH entry point " + hex(*pvh_entry) + " outside every loaded segment"};
    // PVH enters in 32-bit mode with paging off (xen docs/misc/pvh.pandoc):
    // an entry above 4 GiB, possible in an 8-byte note, is out of reach.
    if (*entry >= (uint64_t{1} << 32)) return LoadError{LoadFault::kUnsupported, "has a PVH entry point " + hex(*entry) + " above 4 GiB, out of a 32-bit entry's reach"};
    std::optional<HvmModlistEntry> module;
    if (initrd) module = HvmModlistEntry{*initrd, inputs.initrd.size(), 0, 0};
    auto start_info = write_pvh_start_info(memory, *cmdline, module);
    if (!start_info) return start_info.error();
    return EntryPoint{EntryMode::Protected32, *entry, *start_info};
  }

  const auto entry = entry_in(elf->entry);
  if (!entry) return LoadError{LoadFault::kInconsistent, "has its entry point " + hex(elf->entry) + " outside every loaded segment"};
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
