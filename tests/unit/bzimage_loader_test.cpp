#include "boot/bzimage_loader.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "boot/boot_params.h"
#include "boot/kernel_loader.h"
#include "boot/layout.h"
#include "support/open_scratch_file.h"

namespace ember::boot {
namespace {

// A synthetic bzImage: one setup sector after the boot sector, the setup
// header at 0x1f1, then `kernel_bytes` of "protected-mode kernel".
struct FakeBzImage {
  uint16_t version = 0x020f;
  uint16_t xloadflags = kXlfKernel64;
  uint8_t  loadflags = kLoadedHigh;
  uint32_t cmdline_size = 2047;
  uint32_t initrd_addr_max = 0x37ffffff;
  uint64_t pref_address = 0x1000000;
  uint32_t init_size = 0x800000;
  size_t   kernel_bytes = 0x2000;

  std::vector<uint8_t> build() const {
    std::vector<uint8_t> image(1024 + kernel_bytes);
    SetupHeader hdr{};
    hdr.setup_sects = 1;
    hdr.boot_flag = kBootFlag;
    hdr.jump = static_cast<uint16_t>(0xeb | ((0x26c - 0x202) << 8));
    hdr.header = kHeaderMagic;
    hdr.version = version;
    hdr.loadflags = loadflags;
    hdr.xloadflags = xloadflags;
    hdr.cmdline_size = cmdline_size;
    hdr.initrd_addr_max = initrd_addr_max;
    hdr.pref_address = pref_address;
    hdr.init_size = init_size;
    hdr.syssize = static_cast<uint32_t>(kernel_bytes / 16);
    std::memcpy(image.data() + 0x1f1, &hdr, sizeof hdr);
    for (size_t i = 0; i < kernel_bytes; ++i) image[1024 + i] = static_cast<uint8_t>(i * 7);
    return image;
  }
};

GuestMemory memory_of(uint64_t bytes) { return std::move(GuestMemory::create(ram_regions_for(bytes)).value()); }

BootParams zero_page(const GuestMemory& memory) { return memory.read_object<BootParams>(layout::kZeroPage).value(); }

TEST(BzImageLoader, LoadsTheProtectedModeKernelAt1MiBAndEntersAtOffset0x200) {
  const auto memory = memory_of(64 << 20);
  const auto image = FakeBzImage{}.build();
  const auto entry = load_bzimage(memory, {image, {}, "console=ttyS0"});
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  EXPECT_EQ(entry->mode, EntryMode::Long64);
  EXPECT_EQ(entry->address, 0x100200u);
  EXPECT_EQ(entry->boot_info, layout::kZeroPage);

  std::vector<uint8_t> loaded(0x2000);
  ASSERT_TRUE(memory.read(0x100000, loaded));
  EXPECT_TRUE(std::equal(loaded.begin(), loaded.end(), image.begin() + 1024));
}

TEST(BzImageLoader, LoadsFromOpenFilesWhatItLoadsFromMemory) {
  // The head ends inside the protected-mode kernel, as a real bzImage's
  // 64 KiB head does; the initrd has no head at all.
  const auto image = FakeBzImage{}.build();
  std::vector<uint8_t> initrd(10000);
  for (size_t i = 0; i < initrd.size(); ++i) initrd[i] = static_cast<uint8_t>(i * 3);
  const testing_support::OpenScratchFile kernel_file{image}, initrd_file{initrd};
  const std::vector<uint8_t> head(image.begin(), image.begin() + 0x800);
  const auto memory = memory_of(64 << 20);
  const auto entry = load_bzimage(memory, {ImageBytes{head, kernel_file.fd(), kernel_file.size()},
                                           ImageBytes{{}, initrd_file.fd(), initrd_file.size()}, "console=ttyS0"});
  ASSERT_TRUE(entry.ok()) << entry.error().message;
  std::vector<uint8_t> loaded(0x2000);
  ASSERT_TRUE(memory.read(0x100000, loaded));
  EXPECT_TRUE(std::equal(loaded.begin(), loaded.end(), image.begin() + 1024));
  const auto params = zero_page(memory);
  ASSERT_EQ(uint64_t{params.hdr.ramdisk_size}, initrd.size());
  std::vector<uint8_t> placed(initrd.size());
  ASSERT_TRUE(memory.read(params.hdr.ramdisk_image, placed));
  EXPECT_EQ(placed, initrd);
}

TEST(BzImageLoader, FillsTheZeroPage) {
  const auto memory = memory_of(64 << 20);
  const auto image = FakeBzImage{}.build();
  ASSERT_TRUE(load_bzimage(memory, {image, {}, "console=ttyS0 quiet"}).ok());
  const auto params = zero_page(memory);
  EXPECT_EQ(uint64_t{params.hdr.header}, kHeaderMagic) << "the kernel's own header is copied in";
  EXPECT_EQ(uint64_t{params.hdr.type_of_loader}, kLoaderUndefined);
  EXPECT_EQ(uint64_t{params.hdr.cmd_line_ptr}, layout::kCmdline);
  EXPECT_EQ(uint64_t{params.hdr.ramdisk_image}, 0u);
  ASSERT_EQ(params.e820_entries, 3);
  EXPECT_EQ(uint64_t{params.e820_table[2].address + params.e820_table[2].size}, 64u << 20);

  char cmdline[32] = {};
  ASSERT_TRUE(memory.read(layout::kCmdline, std::span{reinterpret_cast<uint8_t*>(cmdline), 20}));
  EXPECT_STREQ(cmdline, "console=ttyS0 quiet");
}

TEST(BzImageLoader, PlacesTheInitrdHighestBelowInitrdAddrMax) {
  const auto memory = memory_of(64 << 20);
  FakeBzImage fake;
  fake.initrd_addr_max = 0x2ffffff;  // below 48 MiB
  const auto image = fake.build();
  const std::vector<uint8_t> initrd(10000, 0x5a);
  ASSERT_TRUE(load_bzimage(memory, {image, initrd, ""}).ok());
  const auto params = zero_page(memory);
  EXPECT_EQ(uint64_t{params.hdr.ramdisk_size}, 10000u);
  EXPECT_EQ(uint64_t{params.hdr.ramdisk_image % kPageSize}, 0u);
  EXPECT_LE(params.hdr.ramdisk_image + 10000u - 1, 0x2ffffffu);
  EXPECT_GT(params.hdr.ramdisk_image + 10000u - 1, 0x2ffffffu - kPageSize) << "as high as possible";
  EXPECT_EQ(memory.read_object<uint8_t>(params.hdr.ramdisk_image + 9999), 0x5a);
}

TEST(BzImageLoader, InitrdStaysBelowTheTopOfRamWhenInitrdAddrMaxIsHigher) {
  const auto memory = memory_of(32 << 20);
  const auto image = FakeBzImage{}.build();
  const std::vector<uint8_t> initrd(4096, 1);
  ASSERT_TRUE(load_bzimage(memory, {image, initrd, ""}).ok());
  EXPECT_EQ(zero_page(memory).hdr.ramdisk_image, (32u << 20) - 4096);
}

TEST(BzImageLoader, RefusesAnInitrdThatDoesNotFit) {
  const auto memory = memory_of(32 << 20);
  const auto image = FakeBzImage{}.build();
  const std::vector<uint8_t> initrd(20 << 20, 1);  // 16 MiB + 8 MiB init_size leave less than this
  const auto entry = load_bzimage(memory, {image, initrd, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kDoesNotFit) << entry.error().message;
}

TEST(BzImageLoader, RefusesATruncatedImage) {
  auto image = FakeBzImage{}.build();
  image.resize(image.size() - 16);
  const auto memory = memory_of(64 << 20);
  const auto entry = load_bzimage(memory, {image, {}, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kTruncated) << entry.error().message;
}

TEST(BzImageLoader, RefusesAnImageCutInsideItsSetupSectors) {
  auto image = FakeBzImage{}.build();
  image.resize(0x300);
  const auto memory = memory_of(64 << 20);
  const auto entry = load_kernel(memory, {image, {}, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kTruncated) << entry.error().message;
}

TEST(BzImageLoader, RefusesAnImageCutBeforeItsHeaderMagic) {
  auto image = FakeBzImage{}.build();
  image.resize(0x201);
  const auto memory = memory_of(64 << 20);
  const auto entry = load_kernel(memory, {image, {}, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kTruncated) << entry.error().message;
}

TEST(BzImageLoader, RefusesBadMagic) {
  auto image = FakeBzImage{}.build();
  image[0x202] = 'X';
  image[0x1fe] = 0;
  const auto memory = memory_of(64 << 20);
  const auto entry = load_kernel(memory, {image, {}, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kUnknownFormat) << entry.error().message;
}

TEST(BzImageLoader, RefusesTooOldABootProtocol) {
  FakeBzImage fake;
  fake.version = 0x0206;
  const auto image = fake.build();
  const auto memory = memory_of(64 << 20);
  const auto entry = load_bzimage(memory, {image, {}, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kUnsupported) << entry.error().message;
}

TEST(BzImageLoader, RefusesAKernelWithoutA64BitEntry) {
  FakeBzImage fake;
  fake.xloadflags = 0;
  const auto image = fake.build();
  const auto memory = memory_of(64 << 20);
  const auto entry = load_bzimage(memory, {image, {}, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kUnsupported) << entry.error().message;
}

TEST(BzImageLoader, RefusesAZImage) {
  FakeBzImage fake;
  fake.loadflags = 0;
  const auto image = fake.build();
  const auto memory = memory_of(64 << 20);
  EXPECT_FALSE(load_bzimage(memory, {image, {}, ""}).ok());
}

TEST(BzImageLoader, RefusesAKernelThatNeedsMoreRamThanTheGuestHas) {
  FakeBzImage fake;
  fake.init_size = 60 << 20;  // 16 MiB + 60 MiB > 64 MiB
  const auto image = fake.build();
  const auto memory = memory_of(64 << 20);
  const auto entry = load_bzimage(memory, {image, {}, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kDoesNotFit) << entry.error().message;
}

// pref_address + init_size must not wrap past 2^64 into a small "end"
// that passes the RAM check.
TEST(BzImageLoader, RefusesAPrefAddressWhoseDecompressionAreaWraps) {
  FakeBzImage fake;
  fake.pref_address = 0xfffffffffffff000;
  fake.init_size = 0x2000;
  const auto image = fake.build();
  const auto memory = memory_of(64 << 20);
  const auto entry = load_bzimage(memory, {image, {}, ""});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kInconsistent) << entry.error().message;
}

TEST(BzImageLoader, RefusesACommandLineLongerThanTheKernelAccepts) {
  FakeBzImage fake;
  fake.cmdline_size = 10;
  const auto image = fake.build();
  const auto memory = memory_of(64 << 20);
  EXPECT_TRUE(load_bzimage(memory, {image, {}, std::string(10, 'a')}).ok());
  const auto entry = load_bzimage(memory, {image, {}, std::string(11, 'a')});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kDoesNotFit) << entry.error().message;
}

TEST(BzImageLoader, RefusesACommandLineContainingNul) {
  const auto image = FakeBzImage{}.build();
  const auto memory = memory_of(64 << 20);
  const auto entry = load_bzimage(memory, {image, {}, std::string("a\0b", 3)});
  ASSERT_FALSE(entry.ok());
  EXPECT_EQ(entry.error().code, LoadFault::kBadInput) << entry.error().message;
}

}  // namespace
}  // namespace ember::boot
