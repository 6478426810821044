#include "boot/multiboot_loader.h"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/bytes.h"
#include "base/strings.h"
#include "boot/e820.h"
#include "boot/elf_image.h"
#include "boot/layout.h"
#include "boot/low_memory.h"
#include "boot/placement.h"

namespace ember::boot {
namespace {

constexpr uint64_t k4GiB = 1ull << 32;
constexpr uint32_t kUnderstoodRequirements = kMultibootPageAlignModules | kMultibootWantsMemoryInfo;
constexpr uint32_t kRequirementBits = 0xffff;
constexpr char kLoaderName[] = "ember";

struct LoadedKernel {
  uint64_t entry;
  uint64_t end;  // one past the highest byte the kernel occupies, bss included
};

// Flags bit 16: the header says where the image goes. The file from
// header_offset - (header_addr - load_addr) is copied to load_addr up to
// load_end_addr, and [load_end_addr, bss_end_addr) is zeroed (spec 3.1.3).
LoadResult<LoadedKernel> load_by_address_fields(const GuestMemory& memory, std::span<const uint8_t> image,
                                            const MultibootHeaderAt& found) {
  const auto& h = found.header;
  if (image.size() - found.offset < sizeof(MultibootHeader)) {
    return LoadError{LoadFault::kTruncated, "is truncated: its multiboot header sets the address-fields flag but the file ends inside them"};
  }
  if (h.load_addr > h.header_addr) {
    return LoadError{LoadFault::kInconsistent, "has a multiboot load_addr " + hex(h.load_addr) + " above its header_addr " + hex(h.header_addr)};
  }
  const uint64_t header_to_load = uint64_t{h.header_addr} - h.load_addr;
  if (header_to_load > found.offset) {
    return LoadError{LoadFault::kInconsistent, "has multiboot address fields that put load_addr " + hex(h.load_addr) + " before the start of the file"};
  }
  const uint64_t file_start = found.offset - header_to_load;
  const uint64_t load_end = h.load_end_addr != 0 ? uint64_t{h.load_end_addr} : h.load_addr + (image.size() - file_start);
  if (load_end < h.load_addr) return LoadError{LoadFault::kInconsistent, "has a multiboot load_end_addr " + hex(h.load_end_addr) + " below its load_addr"};
  const uint64_t load_size = load_end - h.load_addr;
  if (load_size > image.size() - file_start) {
    return LoadError{LoadFault::kTruncated, "is truncated: its multiboot header loads " + format_size(load_size) + " from file offset " + hex(file_start) +
                 " but the file has " + format_size(image.size() - file_start) + " there"};
  }
  const uint64_t bss_end = h.bss_end_addr != 0 ? uint64_t{h.bss_end_addr} : load_end;
  if (bss_end < load_end) return LoadError{LoadFault::kInconsistent, "has a multiboot bss_end_addr " + hex(h.bss_end_addr) + " below its load_end_addr"};
  if (uint64_t{h.header_addr} + sizeof(MultibootHeader) > load_end) {
    return LoadError{LoadFault::kInconsistent, "has a multiboot header at " + hex(h.header_addr) + " that its own bss (from load_end_addr " + hex(load_end) +
                 ") would overwrite"};
  }
  if (const auto overlap = overlap_with(multiboot_low_memory(), h.load_addr, bss_end)) {
    return LoadError{LoadFault::kOverlapsReserved, "has a multiboot load range " + hex(h.load_addr) + "-" + hex(bss_end - 1) + " that " + *overlap};
  }
  if (!memory.contains(h.load_addr, bss_end - h.load_addr)) {
    return LoadError{LoadFault::kDoesNotFit, "has a multiboot load range " + hex(h.load_addr) + "-" + hex(bss_end - 1) + " outside the guest's " +
                 format_size(memory.total_size()) + " of RAM"};
  }
  if (h.entry_addr < h.load_addr || h.entry_addr >= load_end) {
    return LoadError{LoadFault::kInconsistent, "has a multiboot entry_addr " + hex(h.entry_addr) + " outside its loaded image " + hex(h.load_addr) + "-" +
                 hex(load_end - 1)};
  }
  auto target = memory.slice(h.load_addr, bss_end - h.load_addr);
  std::memcpy(target.data(), image.data() + file_start, load_size);
  std::memset(target.data() + load_size, 0, target.size() - load_size);
  return LoadedKernel{h.entry_addr, bss_end};
}

// Without bit 16 the image must be ELF; 32-bit (as QEMU requires) or 64-bit
// (as GRUB accepts), every segment reachable with paging off.
LoadResult<LoadedKernel> load_by_elf(const GuestMemory& memory, std::span<const uint8_t> image) {
  if (!looks_like_elf(image)) {
    return LoadError{LoadFault::kUnsupported, "has a multiboot header without load addresses (flags bit 16 clear) and is not an ELF image"};
  }
  auto elf = parse_elf(image);
  if (!elf) return elf.error();
  const uint16_t expected = elf->is64 ? EM_X86_64 : EM_386;
  if (elf->machine != expected) return LoadError{LoadFault::kUnsupported, "is an ELF image for machine " + std::to_string(elf->machine) + ", not x86"};
  auto segments = load_segments(memory, image, *elf, multiboot_low_memory());
  if (!segments) return segments.error();
  uint64_t end = 0;
  for (const auto& s : *segments) end = std::max(end, s.physical_address + s.memory_size);
  if (end > k4GiB) return LoadError{LoadFault::kUnsupported, "has a segment above 4 GiB, which a multiboot kernel entered with paging off cannot reach"};
  const auto entry = physical_in_segments(*segments, elf->entry);
  if (!entry) return LoadError{LoadFault::kInconsistent, "has its entry point " + hex(elf->entry) + " outside every loaded segment"};
  return LoadedKernel{*entry, end};
}

// Strings the kernel reads (its command line, module strings, the loader's
// name) go one after another into ember's command-line area.
class StringArea {
 public:
  explicit StringArea(const GuestMemory& memory) : memory_{memory} {}
  LoadResult<uint32_t> add(const std::string& text) {
    if (text.find('\0') != std::string::npos) return LoadError{LoadFault::kBadInput, "a multiboot string contains a NUL byte"};
    if (text.size() + 1 > layout::kCmdlineMax - used_) {
      return LoadError{LoadFault::kDoesNotFit, "the multiboot command line and module strings need more than " + format_size(layout::kCmdlineMax)};
    }
    const uint64_t address = layout::kCmdline + used_;
    if (!memory_.write(address, std::span{reinterpret_cast<const uint8_t*>(text.c_str()), text.size() + 1})) {
      return LoadError{LoadFault::kDoesNotFit, "guest RAM is too small for the multiboot command line"};
    }
    used_ += text.size() + 1;
    return static_cast<uint32_t>(address);
  }

 private:
  const GuestMemory& memory_;
  uint64_t           used_ = 0;
};

std::string joined(const std::string& first, const std::string& rest) {
  if (first.empty()) return rest;
  return rest.empty() ? first : first + " " + rest;
}

}  // namespace

std::optional<MultibootHeaderAt> find_multiboot_header(std::span<const uint8_t> image) {
  std::optional<MultibootHeaderAt> damaged;
  const uint64_t limit = std::min<uint64_t>(image.size(), kMultibootSearchBytes);
  for (uint64_t offset = 0; offset + kMultibootHeaderBaseSize <= limit; offset += 4) {
    if (read_at<uint32_t>(image, offset) != kMultibootHeaderMagic) continue;
    MultibootHeader header{};
    std::memcpy(&header, image.data() + offset, std::min<uint64_t>(sizeof header, image.size() - offset));
    const bool checksum_ok = static_cast<uint32_t>(header.magic + header.flags + header.checksum) == 0;
    if (checksum_ok) return MultibootHeaderAt{offset, header, true};
    if (!damaged) damaged = MultibootHeaderAt{offset, header, false};
  }
  return damaged;
}

LoadResult<EntryPoint> load_multiboot(const GuestMemory& memory, const BootInputs& inputs, const MultibootHeaderAt& found) {
  // This loader reads the kernel and the initrd as spans (kernel_loader.h).
  if (!inputs.kernel.in_memory() || !inputs.initrd.in_memory()) {
    return LoadError{LoadFault::kUnsupported, "is a multiboot kernel, which must be read into memory whole before loading (a bug in ember)"};
  }
  const auto& header = found.header;
  if (!found.checksum_ok) {
    return LoadError{LoadFault::kInconsistent, "has a multiboot header at offset " + hex(found.offset) + " with a bad checksum (magic + flags + checksum = " +
                 hex(static_cast<uint32_t>(header.magic + header.flags + header.checksum)) + ", must be 0)"};
  }
  if (header.flags & kMultibootWantsVideoMode) {
    return LoadError{LoadFault::kUnsupported, "asks its boot loader for a video mode (multiboot flags bit 2); ember has no display"};
  }
  if (const uint32_t unknown = header.flags & kRequirementBits & ~kUnderstoodRequirements; unknown != 0) {
    return LoadError{LoadFault::kUnsupported, "requires multiboot features ember does not know (flags " + hex(unknown) + ")"};
  }

  auto kernel = (header.flags & kMultibootAddressFields) ? load_by_address_fields(memory, inputs.kernel.head(), found)
                                                          : load_by_elf(memory, inputs.kernel.head());
  if (!kernel) return kernel.error();

  // Modules: the initrd first, then each --module, page-aligned (which
  // satisfies flags bit 0) as high as possible below 4 GiB.
  std::vector<BootModule> modules;
  if (!inputs.initrd.empty()) modules.push_back({inputs.initrd.head(), inputs.initrd_name});
  modules.insert(modules.end(), inputs.modules.begin(), inputs.modules.end());

  const auto map = e820_map(memory);
  const uint64_t mmap_bytes = map.size() * sizeof(MultibootMemoryMapEntry);
  const uint64_t info_end = layout::kMultibootInfo + sizeof(MultibootInfo) + mmap_bytes + modules.size() * sizeof(MultibootModule);
  if (info_end > layout::kZeroPage) {
    return LoadError{LoadFault::kDoesNotFit, std::to_string(modules.size()) + " multiboot modules are more than ember's boot information page holds"};
  }

  StringArea strings{memory};
  MultibootInfo info{};
  info.flags = kMultibootInfoMemory | kMultibootInfoCmdline | kMultibootInfoMemoryMap | kMultibootInfoLoaderName;
  info.mem_lower = static_cast<uint32_t>(layout::kEbdaStart / 1024);
  info.mem_upper = static_cast<uint32_t>((std::min(low_ram_end(memory), k4GiB) - layout::kHighMemory) / 1024);
  auto cmdline = strings.add(joined(inputs.kernel_name, inputs.cmdline));
  if (!cmdline) return cmdline.error();
  info.cmdline = *cmdline;
  auto loader_name = strings.add(kLoaderName);
  if (!loader_name) return loader_name.error();
  info.boot_loader_name = *loader_name;

  uint64_t next = layout::kMultibootInfo + sizeof(MultibootInfo);
  info.mmap_addr = static_cast<uint32_t>(next);
  info.mmap_length = static_cast<uint32_t>(mmap_bytes);
  for (const auto& range : map) {
    const MultibootMemoryMapEntry entry{sizeof(MultibootMemoryMapEntry) - 4, range.address, range.size, range.type};
    if (!memory.write_object(next, entry)) return LoadError{LoadFault::kDoesNotFit, "guest RAM is too small for the multiboot memory map"};
    next += sizeof entry;
  }

  if (!modules.empty()) {
    info.flags |= kMultibootInfoModules;
    info.mods_count = static_cast<uint32_t>(modules.size());
    info.mods_addr = static_cast<uint32_t>(next);
  }
  uint64_t ceiling = k4GiB - 1;
  for (size_t i = 0; i < modules.size(); ++i) {
    const std::string what = "multiboot module " + std::to_string(i) + " ('" + modules[i].cmdline + "')";
    if (modules[i].bytes.empty()) return LoadError{LoadFault::kBadInput, what + " is empty"};
    // Above the kernel and never below 1 MiB: a kernel loaded low (at
    // 0x8000, say) must not pull modules down onto the MP table or the strings.
    auto placed = place_high(memory, modules[i].bytes, std::max(kernel->end, layout::kHighMemory), ceiling, what);
    if (!placed) return placed.error();
    auto string = strings.add(modules[i].cmdline);
    if (!string) return string.error();
    const MultibootModule module{static_cast<uint32_t>(*placed), static_cast<uint32_t>(*placed + modules[i].bytes.size()),
                                 *string, 0};
    if (!memory.write_object(next, module)) return LoadError{LoadFault::kDoesNotFit, "guest RAM is too small for the multiboot module list"};
    next += sizeof module;
    ceiling = *placed - 1;
  }
  if (!memory.write_object(layout::kMultibootInfo, info)) return LoadError{LoadFault::kDoesNotFit, "guest RAM is too small for the multiboot information"};
  return EntryPoint{EntryMode::Protected32, kernel->entry, layout::kMultibootInfo, kMultibootLoaderMagic};
}

}  // namespace ember::boot
