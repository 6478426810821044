#include "boot/multiboot_loader.h"

#include <elf.h>
#include <gtest/gtest.h>

#include <optional>

#include <cstring>
#include <string>
#include <vector>

#include "boot/boot_cpu.h"
#include "boot/kernel_loader.h"
#include "boot/layout.h"
#include "memory/memory_map.h"

namespace ember::boot {
namespace {

GuestMemory memory_of(uint64_t bytes) { return std::move(GuestMemory::create(ram_regions_for(bytes)).value()); }

constexpr uint32_t kLoad = 0x100000;
constexpr uint32_t kHeaderOffset = 0x40;

// A flat multiboot image with the address fields (flags bit 16): header at
// file offset 0x40, the whole file loaded at 1 MiB, `bss` bytes after it.
struct FlatImage {
  MultibootHeader      header{};
  std::vector<uint8_t> bytes;

  explicit FlatImage(uint32_t size = 0x1000, uint32_t bss = 0x1000) : bytes(size, 0x90) {
    header.magic = kMultibootHeaderMagic;
    header.flags = kMultibootAddressFields | kMultibootWantsMemoryInfo;
    header.header_addr = kLoad + kHeaderOffset;
    header.load_addr = kLoad;
    header.load_end_addr = kLoad + size;
    header.bss_end_addr = kLoad + size + bss;
    header.entry_addr = kLoad + 0x100;
  }
  std::vector<uint8_t> build(bool fix_checksum = true) {
    if (fix_checksum) header.checksum = -(header.magic + header.flags);
    std::memcpy(bytes.data() + kHeaderOffset, &header, sizeof header);
    return bytes;
  }
};

LoadResult<EntryPoint> load(const GuestMemory& memory, std::vector<uint8_t> image, BootInputs inputs = {}) {
  inputs.kernel = image;
  return load_kernel(memory, inputs);
}

// Why the image was refused; nullopt if it loaded.
std::optional<LoadError> error_of(std::vector<uint8_t> image, uint64_t ram = 16 << 20) {
  const auto memory = memory_of(ram);
  const auto entry = load(memory, std::move(image));
  if (entry.ok()) return std::nullopt;
  return entry.error();
}
std::optional<LoadFault> fault_of(std::vector<uint8_t> image) {
  const auto error = error_of(std::move(image));
  return error ? std::optional{error->code} : std::nullopt;
}

TEST(MultibootLoader, FindsTheHeaderOnlyAlignedAndInTheFirst8KiB) {
  std::vector<uint8_t> image(0x4000);
  const uint32_t header[3] = {kMultibootHeaderMagic, 0, static_cast<uint32_t>(-kMultibootHeaderMagic)};
  std::memcpy(image.data() + 0x2002, header, sizeof header);  // misaligned
  EXPECT_FALSE(find_multiboot_header(image));
  std::memcpy(image.data() + 0x2000, header, sizeof header);  // past 8 KiB
  EXPECT_FALSE(find_multiboot_header(image));
  std::memcpy(image.data() + 0x1ff0, header, sizeof header);
  const auto found = find_multiboot_header(image);
  ASSERT_TRUE(found);
  EXPECT_EQ(found->offset, 0x1ff0u);
  EXPECT_TRUE(found->checksum_ok);
}

TEST(MultibootLoader, LoadsByAddressFieldsZeroesBssAndEntersWithTheMagic) {
  const auto memory = memory_of(16 << 20);
  ASSERT_TRUE(memory.write(kLoad + 0x1000, std::vector<uint8_t>(0x1000, 0xee)));
  BootInputs inputs;
  inputs.cmdline = "console=ttyS0";
  inputs.kernel_name = "/boot/kernel";
  const auto entry = load(memory, FlatImage{}.build(), inputs);
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  EXPECT_EQ(entry->mode, EntryMode::Protected32);
  EXPECT_EQ(entry->address, kLoad + 0x100);
  EXPECT_EQ(entry->eax, kMultibootLoaderMagic);
  EXPECT_EQ(entry->boot_info, layout::kMultibootInfo);
  EXPECT_EQ(memory.read_object<uint8_t>(kLoad), 0x90);
  EXPECT_EQ(memory.read_object<uint64_t>(kLoad + 0x1ff8), 0u) << "bss is zeroed";

  const auto info = memory.read_object<MultibootInfo>(layout::kMultibootInfo).value();
  EXPECT_EQ(info.flags & (kMultibootInfoMemory | kMultibootInfoMemoryMap | kMultibootInfoCmdline),
            kMultibootInfoMemory | kMultibootInfoMemoryMap | kMultibootInfoCmdline);
  EXPECT_EQ(info.mem_lower, 639u);
  EXPECT_EQ(info.mem_upper, (16u << 10) - 1024u);
  std::string cmdline(64, '\0');
  ASSERT_TRUE(memory.read(info.cmdline, std::span{reinterpret_cast<uint8_t*>(cmdline.data()), cmdline.size()}));
  EXPECT_STREQ(cmdline.c_str(), "/boot/kernel console=ttyS0");

  // The map: available RAM up to 640 KiB and from 1 MiB to 16 MiB.
  uint64_t available = 0;
  for (uint32_t offset = 0; offset < info.mmap_length; offset += sizeof(MultibootMemoryMapEntry)) {
    const auto e = memory.read_object<MultibootMemoryMapEntry>(info.mmap_addr + offset).value();
    EXPECT_EQ(e.size, 20u);
    if (e.type == 1) available += e.length;
  }
  EXPECT_EQ(available, 0x9fc00u + (15u << 20));
}

TEST(MultibootLoader, ModulesArePageAlignedAboveTheKernelWithTheirStrings) {
  const auto memory = memory_of(16 << 20);
  const std::vector<uint8_t> initrd(5000, 0x11), extra(100, 0x22);
  BootInputs inputs;
  inputs.initrd = initrd;
  inputs.initrd_name = "initrd.img";
  inputs.modules = {{extra, "extra.bin arg=1"}};
  const auto entry = load(memory, FlatImage{}.build(), inputs);
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  const auto info = memory.read_object<MultibootInfo>(layout::kMultibootInfo).value();
  ASSERT_TRUE(info.flags & kMultibootInfoModules);
  ASSERT_EQ(info.mods_count, 2u);
  for (uint32_t i = 0; i < 2; ++i) {
    const auto module = memory.read_object<MultibootModule>(info.mods_addr + i * sizeof(MultibootModule)).value();
    const auto& bytes = i == 0 ? initrd : extra;
    EXPECT_EQ(module.mod_start % 4096, 0u);
    EXPECT_GE(module.mod_start, kLoad + 0x2000u) << "above the kernel's bss";
    EXPECT_EQ(module.mod_end - module.mod_start, bytes.size());
    EXPECT_EQ(memory.read_object<uint8_t>(module.mod_start), bytes[0]);
    std::string text(32, '\0');
    ASSERT_TRUE(memory.read(module.string, std::span{reinterpret_cast<uint8_t*>(text.data()), text.size()}));
    EXPECT_STREQ(text.c_str(), i == 0 ? "initrd.img" : "extra.bin arg=1");
  }
}

TEST(MultibootLoader, RefusesABadChecksum) {
  FlatImage image;
  image.header.checksum = 0x12345678;
  const auto error = error_of(image.build(false));
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, LoadFault::kInconsistent) << error->message;
}

TEST(MultibootLoader, RefusesALoadAddressOutsideRam) {
  FlatImage image;
  const uint32_t far = 64u << 20;  // 16 MiB of RAM
  image.header.header_addr = far + kHeaderOffset;
  image.header.load_addr = far;
  image.header.load_end_addr = far + 0x1000;
  image.header.bss_end_addr = far + 0x2000;
  image.header.entry_addr = far;
  const auto error = error_of(image.build());
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, LoadFault::kDoesNotFit) << error->message;
}

// Low RAM is ordinary RAM to a multiboot image, outside what ember keeps
// there for this boot (boot/low_memory.h): 0x8000 is free, since a 32-bit
// entry needs no boot page tables.
FlatImage image_at(uint32_t load, uint32_t bss) {
  constexpr uint32_t size = 0x1000;
  FlatImage image{size, bss};
  image.header.header_addr = load + kHeaderOffset;
  image.header.load_addr = load;
  image.header.load_end_addr = load + size;
  image.header.bss_end_addr = load + size + bss;
  image.header.entry_addr = load + 0x100;
  return image;
}

TEST(MultibootLoader, LoadsBelow1MiBWhereEmberKeepsNothing) {
  const auto memory = memory_of(16 << 20);
  const auto entry = load(memory, image_at(0x8000, 0x10000).build());
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  EXPECT_EQ(entry->address, 0x8100u);
  EXPECT_EQ(memory.read_object<uint8_t>(0x8000), 0x90);
  ASSERT_TRUE(write_boot_tables(memory, entry->mode).ok());
  EXPECT_EQ(memory.read_object<uint8_t>(0x9000), 0u) << "no page tables written over its bss";
}

TEST(MultibootLoader, ModulesOfALowKernelStayAbove1MiB) {
  const auto memory = memory_of(4 << 20);
  const std::vector<uint8_t> module((3 << 20) + 0x1000, 0x4d);  // fits only if it may go below 1 MiB
  BootInputs inputs;
  inputs.modules.push_back({module, "big"});
  const auto entry = load(memory, image_at(0x8000, 0x1000).build(), inputs);
  ASSERT_FALSE(entry.ok()) << "placed below 1 MiB, over the MP table";
  EXPECT_EQ(entry.error().code, LoadFault::kDoesNotFit) << entry.error().message;
  const std::vector<uint8_t> smaller(1 << 20, 0x4d);
  inputs.modules[0] = {smaller, "fits"};
  const auto small = load(memory, image_at(0x8000, 0x1000).build(), inputs);
  ASSERT_TRUE(small.ok()) << small.error().message;
  const auto info = memory.read_object<MultibootInfo>(layout::kMultibootInfo).value();
  const auto placed = memory.read_object<MultibootModule>(info.mods_addr).value();
  EXPECT_GE(placed.mod_start, layout::kHighMemory);
}

TEST(MultibootLoader, RefusesALoadRangeOverlappingWhatEmberKeepsLowNamingIt) {
  struct Case {
    uint32_t    load, bss;
    const char* named;
  };
  for (const auto& c : {Case{0x6000, 0, "the multiboot information (0x6000-0x6fff)"},
                        Case{0x400, 0, "the real-mode IVT and BIOS data area"},
                        Case{0x10000, 0x10000, "the multiboot command line and module strings (0x20000-0x2ffff)"},
                        Case{0x90000, 0x10000, "the EBDA and BIOS area"}}) {
    SCOPED_TRACE(c.named);
    const auto error = error_of(image_at(c.load, c.bss).build());
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code, LoadFault::kOverlapsReserved) << error->message;
    // The sentence is for people: it names the area.
    EXPECT_NE(error->message.find(c.named), std::string::npos) << error->message;
  }
}

TEST(MultibootLoader, RefusesBssOverlappingItsOwnHeader) {
  // load_end_addr stops before the header ends: the bss would zero it.
  FlatImage image;
  image.header.load_end_addr = kLoad + kHeaderOffset + 8;
  const auto error = error_of(image.build());
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, LoadFault::kInconsistent) << error->message;
}

TEST(MultibootLoader, RefusesInconsistentAddressFields) {
  {
    FlatImage image;
    image.header.load_addr = image.header.header_addr + 4;
    EXPECT_EQ(fault_of(image.build()), LoadFault::kInconsistent);
  }
  {
    FlatImage image;  // header_addr - load_addr larger than the header's file offset
    image.header.load_addr = kLoad - 0x1000;
    image.header.header_addr = kLoad + kHeaderOffset;
    EXPECT_EQ(fault_of(image.build()), LoadFault::kInconsistent);
  }
  {
    FlatImage image;
    image.header.load_end_addr = kLoad + 0x10000;  // the file has 4 KiB
    EXPECT_EQ(fault_of(image.build()), LoadFault::kTruncated);
  }
  {
    FlatImage image;
    image.header.bss_end_addr = kLoad + 0x800;
    EXPECT_EQ(fault_of(image.build()), LoadFault::kInconsistent);
  }
  {
    FlatImage image;
    image.header.entry_addr = kLoad + 0x5000;
    EXPECT_EQ(fault_of(image.build()), LoadFault::kInconsistent);
  }
}

TEST(MultibootLoader, RefusesRequirementsItCannotMeet) {
  {
    FlatImage image;
    image.header.flags |= kMultibootWantsVideoMode;
    EXPECT_EQ(fault_of(image.build()), LoadFault::kUnsupported);
  }
  {
    FlatImage image;
    image.header.flags |= 1u << 5;
    EXPECT_EQ(fault_of(image.build()), LoadFault::kUnsupported);
  }
}

TEST(MultibootLoader, WithoutAddressFieldsTheImageMustBeElf) {
  FlatImage image;
  image.header.flags &= ~kMultibootAddressFields;
  const auto error = error_of(image.build());
  ASSERT_TRUE(error);
  EXPECT_EQ(error->code, LoadFault::kUnsupported) << error->message;
}

TEST(MultibootLoader, LoadsAn32BitElfByItsProgramHeaders) {
  // ELF32 header, one program header, then the segment holding the multiboot header.
  std::vector<uint8_t> image(0x200, 0);
  Elf32_Ehdr eh{};
  std::memcpy(eh.e_ident, ELFMAG, SELFMAG);
  eh.e_ident[EI_CLASS] = ELFCLASS32;
  eh.e_ident[EI_DATA] = ELFDATA2LSB;
  eh.e_type = ET_EXEC;
  eh.e_machine = EM_386;
  eh.e_entry = 0x100010;
  eh.e_phoff = sizeof eh;
  eh.e_phentsize = sizeof(Elf32_Phdr);
  eh.e_phnum = 1;
  Elf32_Phdr ph{};
  ph.p_type = PT_LOAD;
  ph.p_offset = 0x100;
  ph.p_paddr = ph.p_vaddr = 0x100000;
  ph.p_filesz = 0x100;
  ph.p_memsz = 0x800;
  std::memcpy(image.data(), &eh, sizeof eh);
  std::memcpy(image.data() + sizeof eh, &ph, sizeof ph);
  const uint32_t header[3] = {kMultibootHeaderMagic, 0, static_cast<uint32_t>(-kMultibootHeaderMagic)};
  std::memcpy(image.data() + 0x100, header, sizeof header);

  const auto memory = memory_of(16 << 20);
  const auto entry = load(memory, image);
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  EXPECT_EQ(entry->address, 0x100010u);
  EXPECT_EQ(entry->eax, kMultibootLoaderMagic);
  EXPECT_EQ(memory.read_object<uint32_t>(0x100000), kMultibootHeaderMagic);
}

}  // namespace
}  // namespace ember::boot
