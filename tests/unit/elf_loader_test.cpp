#include "boot/elf_loader.h"

#include <elf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <optional>

#include <cstring>
#include <string>
#include <vector>

#include "boot/boot_params.h"
#include "boot/e820.h"
#include "boot/layout.h"
#include "support/open_scratch_file.h"

namespace ember::boot {
namespace {

// Builds ELF64 images in memory: a header, program headers, then each
// segment's bytes in order.
class ElfBuilder {
 public:
  ElfBuilder& load(uint64_t paddr, std::vector<uint8_t> bytes, uint64_t memsz = 0, uint64_t vaddr = 0) {
    Elf64_Phdr ph{};
    ph.p_type = PT_LOAD;
    ph.p_paddr = paddr;
    ph.p_vaddr = vaddr ? vaddr : paddr;
    ph.p_filesz = bytes.size();
    ph.p_memsz = memsz ? memsz : bytes.size();
    segments_.push_back({ph, std::move(bytes)});
    return *this;
  }
  // The entry in a 4-byte descriptor, or an 8-byte one with `wide`.
  ElfBuilder& pvh_note(uint64_t entry, bool wide = false) {
    const uint32_t entry_size = wide ? 8 : 4;
    std::vector<uint8_t> note(12 + 4 + entry_size);
    const uint32_t words[3] = {4, entry_size, kXenElfnotePhys32Entry};
    std::memcpy(note.data(), words, 12);
    std::memcpy(note.data() + 12, "Xen", 4);
    std::memcpy(note.data() + 16, &entry, entry_size);
    Elf64_Phdr ph{};
    ph.p_type = PT_NOTE;
    ph.p_filesz = note.size();
    segments_.push_back({ph, std::move(note)});
    return *this;
  }
  ElfBuilder& entry(uint64_t address) {
    entry_ = address;
    return *this;
  }
  Elf64_Ehdr& header() { return header_; }
  Elf64_Phdr& segment(size_t i) { return segments_[i].header; }

  std::vector<uint8_t> build() {
    std::memcpy(header_.e_ident, ELFMAG, SELFMAG);
    header_.e_ident[EI_CLASS] = header_.e_ident[EI_CLASS] ? header_.e_ident[EI_CLASS] : ELFCLASS64;
    header_.e_ident[EI_DATA] = ELFDATA2LSB;
    header_.e_type = header_.e_type ? header_.e_type : ET_EXEC;
    header_.e_machine = header_.e_machine ? header_.e_machine : EM_X86_64;
    header_.e_entry = entry_;
    header_.e_phoff = header_.e_phoff ? header_.e_phoff : sizeof(Elf64_Ehdr);
    header_.e_phentsize = sizeof(Elf64_Phdr);
    header_.e_phnum = header_.e_phnum ? header_.e_phnum : static_cast<uint16_t>(segments_.size());
    uint64_t offset = sizeof(Elf64_Ehdr) + segments_.size() * sizeof(Elf64_Phdr);
    std::vector<uint8_t> image(offset);
    for (auto& s : segments_) {
      if (s.header.p_offset == 0) s.header.p_offset = offset;
      image.insert(image.end(), s.bytes.begin(), s.bytes.end());
      offset += s.bytes.size();
    }
    std::memcpy(image.data(), &header_, sizeof header_);
    for (size_t i = 0; i < segments_.size(); ++i) {
      std::memcpy(image.data() + sizeof(Elf64_Ehdr) + i * sizeof(Elf64_Phdr), &segments_[i].header, sizeof(Elf64_Phdr));
    }
    return image;
  }

 private:
  struct Segment {
    Elf64_Phdr           header;
    std::vector<uint8_t> bytes;
  };
  Elf64_Ehdr           header_{};
  std::vector<Segment> segments_;
  uint64_t             entry_ = 0x200000;
};

GuestMemory memory_of(uint64_t bytes) { return std::move(GuestMemory::create(ram_regions_for(bytes)).value()); }

// Why load_elf refused `image`; nullopt if it loaded.
std::optional<LoadFault> load_fault(const std::vector<uint8_t>& image, uint64_t ram = 16 << 20) {
  const auto memory = memory_of(ram);
  const auto entry = load_elf(memory, {image, {}, ""});
  if (entry.ok()) return std::nullopt;
  return entry.error().code;
}

TEST(ElfLoader, CopiesSegmentsAndZeroesTheirBss) {
  const auto memory = memory_of(16 << 20);
  ASSERT_TRUE(memory.write(0x201000, std::vector<uint8_t>(0x100, 0xff)));
  const auto image = ElfBuilder{}.load(0x200000, {1, 2, 3, 4}, 0x1100).build();
  ASSERT_TRUE(load_elf(memory, {image, {}, ""}).ok());
  EXPECT_EQ(memory.read_object<uint32_t>(0x200000), 0x04030201u);
  EXPECT_EQ(memory.read_object<uint64_t>(0x2010f8), 0u) << "bss is zeroed";
}

TEST(ElfLoader, PlainElfEntersIn64BitModeWithBootParams) {
  const auto memory = memory_of(16 << 20);
  const auto image = ElfBuilder{}.load(0x200000, std::vector<uint8_t>(64, 0x90)).entry(0x200010).build();
  const auto entry = load_elf(memory, {image, {}, "hello world"});
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  EXPECT_EQ(entry->mode, EntryMode::Long64);
  EXPECT_EQ(entry->address, 0x200010u);
  EXPECT_EQ(entry->boot_info, layout::kZeroPage);
  const auto params = memory.read_object<BootParams>(layout::kZeroPage).value();
  EXPECT_EQ(uint64_t{params.hdr.cmd_line_ptr}, layout::kCmdline);
  EXPECT_EQ(uint64_t{params.hdr.header}, kHeaderMagic);
  EXPECT_EQ(uint64_t{params.e820_entries}, 3);
}

TEST(ElfLoader, TranslatesAVirtualEntryThroughItsSegment) {
  const auto memory = memory_of(16 << 20);
  const auto image =
      ElfBuilder{}.load(0x200000, std::vector<uint8_t>(64), 0, 0xffffffff81000000).entry(0xffffffff81000020).build();
  const auto entry = load_elf(memory, {image, {}, ""});
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  EXPECT_EQ(entry->address, 0x200020u);
}

TEST(ElfLoader, PvhNoteSelectsThe32BitEntryWithStartInfo) {
  const auto memory = memory_of(16 << 20);
  const auto image = ElfBuilder{}.load(0x200000, std::vector<uint8_t>(64)).pvh_note(0x200030).build();
  const std::vector<uint8_t> initrd(5000, 0x11);
  const auto entry = load_elf(memory, {image, initrd, "root=/dev/vda"});
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  EXPECT_EQ(entry->mode, EntryMode::Protected32);
  EXPECT_EQ(entry->address, 0x200030u);
  EXPECT_EQ(entry->boot_info, layout::kPvhStartInfo);

  const auto info = memory.read_object<HvmStartInfo>(layout::kPvhStartInfo).value();
  EXPECT_EQ(uint64_t{info.magic}, kHvmStartMagic);
  EXPECT_EQ(uint64_t{info.version}, 1u);
  EXPECT_EQ(uint64_t{info.cmdline_paddr}, layout::kCmdline);
  ASSERT_EQ(info.nr_modules, 1u);
  const auto module = memory.read_object<HvmModlistEntry>(info.modlist_paddr).value();
  EXPECT_EQ(uint64_t{module.size}, 5000u);
  EXPECT_EQ(memory.read_object<uint8_t>(module.paddr), 0x11);

  const auto map = e820_map(memory);
  ASSERT_EQ(info.memmap_entries, map.size());
  for (uint32_t i = 0; i < info.memmap_entries; ++i) {
    const auto entry_i = memory.read_object<HvmMemmapEntry>(info.memmap_paddr + i * sizeof(HvmMemmapEntry)).value();
    EXPECT_EQ(uint64_t{entry_i.addr}, uint64_t{map[i].address});
    EXPECT_EQ(uint64_t{entry_i.size}, uint64_t{map[i].size});
    EXPECT_EQ(uint64_t{entry_i.type}, uint64_t{map[i].type});
  }
}

TEST(ElfLoader, RefusesA32BitElf) {
  ElfBuilder builder;
  builder.load(0x200000, {1});
  builder.header().e_ident[EI_CLASS] = ELFCLASS32;
  EXPECT_EQ(load_fault(builder.build()), LoadFault::kUnsupported);
}

TEST(ElfLoader, RefusesAnotherMachine) {
  ElfBuilder builder;
  builder.load(0x200000, {1});
  builder.header().e_machine = EM_AARCH64;
  EXPECT_EQ(load_fault(builder.build()), LoadFault::kUnsupported);
}

TEST(ElfLoader, RefusesASharedObject) {
  ElfBuilder builder;
  builder.load(0x200000, {1});
  builder.header().e_type = ET_DYN;
  EXPECT_EQ(load_fault(builder.build()), LoadFault::kUnsupported);
}

TEST(ElfLoader, RefusesATruncatedHeader) {
  auto image = ElfBuilder{}.load(0x200000, {1}).build();
  image.resize(20);
  EXPECT_EQ(load_fault(image), LoadFault::kTruncated);
}

TEST(ElfLoader, RefusesProgramHeadersPastTheEndOfTheFile) {
  ElfBuilder builder;
  builder.load(0x200000, {1});
  builder.header().e_phoff = 1ull << 40;
  EXPECT_EQ(load_fault(builder.build()), LoadFault::kTruncated);
}

TEST(ElfLoader, RefusesASegmentWhoseBytesRunPastTheFile) {
  ElfBuilder builder;
  builder.load(0x200000, {1, 2, 3});
  builder.segment(0).p_filesz = 1 << 20;
  builder.segment(0).p_memsz = 1 << 20;
  EXPECT_EQ(load_fault(builder.build()), LoadFault::kTruncated);
}

TEST(ElfLoader, RefusesASegmentOffsetThatWraps) {
  ElfBuilder builder;
  builder.load(0x200000, {1, 2, 3});
  builder.segment(0).p_offset = UINT64_MAX - 1;
  EXPECT_EQ(load_fault(builder.build()), LoadFault::kTruncated);
}

TEST(ElfLoader, RefusesMoreFileBytesThanMemoryBytes) {
  ElfBuilder builder;
  builder.load(0x200000, {1, 2, 3, 4});
  builder.segment(0).p_memsz = 2;
  EXPECT_EQ(load_fault(builder.build()), LoadFault::kInconsistent);
}

TEST(ElfLoader, RefusesASegmentOutsideRam) {
  const auto image = ElfBuilder{}.load(0x2000000, {1}).build();  // 32 MiB, guest has 16
  EXPECT_EQ(load_fault(image), LoadFault::kDoesNotFit);
}

TEST(ElfLoader, RefusesASegmentLargerThanRam) {
  const auto image = ElfBuilder{}.load(0x200000, {1}, 64 << 20).build();
  EXPECT_EQ(load_fault(image), LoadFault::kDoesNotFit);
}

TEST(ElfLoader, RefusesASegmentWhoseAddressWraps) {
  const auto image = ElfBuilder{}.load(UINT64_MAX - 4, {1}, 16).build();
  EXPECT_EQ(load_fault(image), LoadFault::kInconsistent);
}

TEST(ElfLoader, RefusesASegmentBelow1MiB) {
  const auto image = ElfBuilder{}.load(0x7000, {1}).entry(0x7000).build();
  EXPECT_EQ(load_fault(image), LoadFault::kOverlapsReserved);
}

TEST(ElfLoader, RefusesOverlappingSegments) {
  const auto image = ElfBuilder{}.load(0x200000, std::vector<uint8_t>(0x1000)).load(0x200800, {1}).build();
  EXPECT_EQ(load_fault(image), LoadFault::kInconsistent);
}

TEST(ElfLoader, RefusesAnEntryOutsideEverySegment) {
  const auto image = ElfBuilder{}.load(0x200000, {1}).entry(0x300000).build();
  EXPECT_EQ(load_fault(image), LoadFault::kInconsistent);
}

// PVH enters in 32-bit mode: an 8-byte note may name an entry above 4 GiB,
// inside a segment there, which no 32-bit entry can reach.
TEST(ElfLoader, RefusesAPvhEntryAbove4GiB) {
  constexpr uint64_t k4GiB = uint64_t{1} << 32;
  const auto image = ElfBuilder{}.load(k4GiB, std::vector<uint8_t>(64)).pvh_note(k4GiB + 0x30, true).build();
  const auto memory = memory_of(kMmioHoleStart + (1ull << 30));  // RAM continues at 4 GiB
  const auto entry = load_elf(memory, {image, {}, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kUnsupported) << entry.error().message;
}

TEST(ElfLoader, RefusesAnImageWithNoLoadableSegment) {
  ElfBuilder builder;
  builder.pvh_note(0x200000);
  EXPECT_EQ(load_fault(builder.build()), LoadFault::kUnsupported);
}

TEST(ElfLoader, RefusesAbsurdProgramHeaderCounts) {
  ElfBuilder builder;
  builder.load(0x200000, {1});
  builder.header().e_phnum = 60000;
  EXPECT_EQ(load_fault(builder.build()), LoadFault::kUnsupported);
}

TEST(ElfLoader, IgnoresAMalformedNote) {
  ElfBuilder builder;
  builder.load(0x200000, std::vector<uint8_t>(64)).pvh_note(0x200030);
  auto image = builder.build();
  // Corrupt the note's name size so it claims to run past its segment.
  const size_t note_offset = image.size() - 20;
  const uint32_t huge = 0xfffffff0;
  std::memcpy(image.data() + note_offset, &huge, 4);
  const auto memory = memory_of(16 << 20);
  const auto entry = load_elf(memory, {image, {}, ""});
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  EXPECT_EQ(entry->mode, EntryMode::Long64) << "no PVH entry is taken from a broken note";
}

// The kernel as Machine::create hands it over: an open file of which only
// the first `head_bytes` bytes were read.
class KernelFile : public testing_support::OpenScratchFile {
 public:
  KernelFile(const std::vector<uint8_t>& image, size_t head_bytes)
      : OpenScratchFile{image}, head_(image.begin(), image.begin() + static_cast<std::ptrdiff_t>(head_bytes)) {}
  ImageBytes image() const { return ImageBytes{head_, fd(), size()}; }

 private:
  std::vector<uint8_t> head_;
};

TEST(ElfLoader, LoadsFromAnOpenFileWhatItLoadsFromMemory) {
  std::vector<uint8_t> text(3000);
  for (size_t i = 0; i < text.size(); ++i) text[i] = static_cast<uint8_t>(i * 7);
  const auto image = ElfBuilder{}.load(0x200000, text, 0x2000).pvh_note(0x200030).build();
  // Only the ELF header in hand: the program headers, the note and the
  // segment all come from the file.
  const KernelFile file{image, sizeof(Elf64_Ehdr)};
  const auto from_file = memory_of(16 << 20), from_memory = memory_of(16 << 20);
  ASSERT_TRUE(from_file.write(0x200000 + 0x1800, std::vector<uint8_t>(0x100, 0xff)));
  const std::vector<uint8_t> initrd(5000, 0x11);
  const auto entry = load_elf(from_file, {file.image(), initrd, "x"});
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  const auto expected = load_elf(from_memory, {image, initrd, "x"});
  ASSERT_TRUE(expected.ok());
  EXPECT_EQ(entry->mode, EntryMode::Protected32) << "the PVH note was read from the file";
  EXPECT_EQ(entry->address, expected->address);
  const auto loaded = from_file.slice(0x200000, 0x2000), wanted = from_memory.slice(0x200000, 0x2000);
  EXPECT_TRUE(std::equal(loaded.begin(), loaded.end(), wanted.begin())) << "segment bytes and zeroed bss";
}

TEST(ElfLoader, AKernelFileThatShrankWhileLoadingIsAClearError) {
  const auto image = ElfBuilder{}.load(0x200000, std::vector<uint8_t>(3000, 1)).build();
  const KernelFile file{image, sizeof(Elf64_Ehdr)};
  ASSERT_EQ(::truncate(file.path().c_str(), static_cast<off_t>(image.size() - 100)), 0);
  const auto memory = memory_of(16 << 20);
  const auto entry = load_elf(memory, {file.image(), {}, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kTruncated);
  EXPECT_EQ(entry.error().message, "shrank while it was being read");
}

TEST(ElfLoader, AnInitrdFileThatShrankWhileLoadingIsAClearError) {
  const auto image = ElfBuilder{}.load(0x200000, std::vector<uint8_t>(64)).build();
  const KernelFile initrd{std::vector<uint8_t>(9000, 3), 0};
  ASSERT_EQ(::truncate(initrd.path().c_str(), 4000), 0);
  const auto memory = memory_of(16 << 20);
  const auto entry = load_elf(memory, {image, initrd.image(), "", "vmlinux", initrd.path()});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().message, "the initrd '" + initrd.path() + "' shrank while it was being read");
}

TEST(ElfLoader, RefusesANoteSegmentLargerThanAnyKernelHas) {
  auto image = ElfBuilder{}.load(0x200000, std::vector<uint8_t>(64)).pvh_note(0x200030).build();
  image.resize(image.size() + (2 << 20));
  Elf64_Phdr note{};
  std::memcpy(&note, image.data() + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr), sizeof note);
  note.p_filesz = 2 << 20;
  std::memcpy(image.data() + sizeof(Elf64_Ehdr) + sizeof(Elf64_Phdr), &note, sizeof note);
  const auto memory = memory_of(16 << 20);
  const auto entry = load_elf(memory, {image, {}, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().message, "has a PT_NOTE segment of 2 MiB; ember reads such segments up to 1 MiB");
}

}  // namespace
}  // namespace ember::boot
