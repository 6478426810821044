#include "boot/bzimage_loader.h"

#include <algorithm>
#include <cstring>

#include "base/strings.h"
#include "boot/boot_params.h"
#include "boot/layout.h"
#include "boot/placement.h"

namespace ember::boot {
namespace {

constexpr size_t   kSetupHeaderOffset  = 0x1f1;
constexpr size_t   kHeaderMagicOffset  = 0x202;
constexpr uint16_t kMinimumVersion     = 0x020c;  // 2.12: xloadflags and its XLF_KERNEL_64 bit
constexpr uint64_t kEntry64Offset      = 0x200;   // boot.rst: 64-bit entry is 0x200 past the protected-mode start
constexpr uint64_t kKernelLoadAddress  = layout::kHighMemory;

std::string version_text(uint16_t version) {
  return std::to_string(version >> 8) + "." + std::to_string(version & 0xff);
}

}  // namespace

bool looks_like_bzimage(std::span<const uint8_t> image) {
  uint32_t magic = 0;
  if (image.size() < kHeaderMagicOffset + sizeof magic) return false;
  std::memcpy(&magic, image.data() + kHeaderMagicOffset, sizeof magic);
  return magic == kHeaderMagic;
}

LoadResult<EntryPoint> load_bzimage(const GuestMemory& memory, const BootInputs& inputs) {
  const auto image = inputs.kernel.head();  // the setup header lies in the head
  if (!looks_like_bzimage(image)) return LoadError{LoadFault::kUnknownFormat, "is not a bzImage: no 'HdrS' magic at offset 0x202"};

  // boot.rst: the header runs from 0x1f1 to 0x202 + the byte at 0x201.
  BootParams params{};
  const size_t header_end = std::min<size_t>(kHeaderMagicOffset + image[0x201], kSetupHeaderOffset + sizeof(SetupHeader));
  if (image.size() < header_end) return LoadError{LoadFault::kTruncated, "is truncated inside its setup header"};
  std::memcpy(&params.hdr, image.data() + kSetupHeaderOffset, header_end - kSetupHeaderOffset);
  SetupHeader& hdr = params.hdr;

  if (hdr.version < kMinimumVersion) {
    return LoadError{LoadFault::kUnsupported, "uses boot protocol " + version_text(hdr.version) + ", too old: ember needs " + version_text(kMinimumVersion) +
                 " or later (64-bit entry)"};
  }
  if ((hdr.xloadflags & kXlfKernel64) == 0) return LoadError{LoadFault::kUnsupported, "has no 64-bit entry point (XLF_KERNEL_64 is clear)"};
  if ((hdr.loadflags & kLoadedHigh) == 0) return LoadError{LoadFault::kUnsupported, "is a zImage that loads below 1 MiB; ember boots only bzImage"};

  const uint64_t setup_sectors = hdr.setup_sects == 0 ? 4 : hdr.setup_sects;
  const uint64_t setup_bytes = (setup_sectors + 1) * 512;
  const uint64_t declared_kernel_bytes = uint64_t{hdr.syssize} * 16;
  const uint64_t file_size = inputs.kernel.size();
  if (file_size <= setup_bytes || file_size - setup_bytes < declared_kernel_bytes) {
    return LoadError{LoadFault::kTruncated, "is truncated: its header promises " + format_size(setup_bytes + declared_kernel_bytes) + " but the file has " +
                 std::to_string(file_size) + " bytes"};
  }
  const uint64_t kernel_size = file_size - setup_bytes;  // the protected-mode kernel: the rest of the file

  // The decompressor runs in place and extracts to max(pref_address, load
  // address) and needs init_size bytes there (boot.rst, init_size).
  const uint64_t decompress_base = std::max<uint64_t>(kKernelLoadAddress, hdr.pref_address);
  uint64_t needed_end = 0;
  if (__builtin_add_overflow(decompress_base, std::max<uint64_t>(hdr.init_size, kernel_size), &needed_end)) {
    return LoadError{LoadFault::kInconsistent, "has a pref_address " + hex(hdr.pref_address) + " whose decompression area (init_size " + hex(hdr.init_size) +
                 ") wraps past 2^64"};
  }
  const auto target = memory.slice(kKernelLoadAddress, kernel_size);
  if (needed_end > low_ram_end(memory) || target.size() != kernel_size) {
    return LoadError{LoadFault::kDoesNotFit, "needs guest RAM up to " + hex(needed_end) + " to decompress (" + format_size(needed_end) +
                 " at least), but the guest has " + format_size(memory.total_size())};
  }
  if (auto copied = inputs.kernel.copy(setup_bytes, target); !copied) return copied.error();

  const uint64_t cmdline_limit = hdr.cmdline_size == 0 ? 256 : uint64_t{hdr.cmdline_size} + 1;
  auto cmdline = write_cmdline(memory, inputs.cmdline, cmdline_limit);
  if (!cmdline) return cmdline.error();
  hdr.cmd_line_ptr = static_cast<uint32_t>(*cmdline);

  if (!inputs.initrd.empty()) {
    const uint64_t highest = hdr.initrd_addr_max == 0 ? 0x37ffffff : hdr.initrd_addr_max;  // boot.rst default
    auto initrd = place_high(memory, inputs.initrd, needed_end, highest, describe_initrd(inputs.initrd_name));
    if (!initrd) return initrd.error();
    hdr.ramdisk_image = static_cast<uint32_t>(*initrd);
    hdr.ramdisk_size = static_cast<uint32_t>(inputs.initrd.size());
  }

  hdr.type_of_loader = kLoaderUndefined;
  hdr.vid_mode = 0xffff;  // "normal": no video mode switch requested
  if (auto written = write_zero_page(memory, params); !written) return written.error();
  return EntryPoint{EntryMode::Long64, kKernelLoadAddress + kEntry64Offset, layout::kZeroPage};
}

}  // namespace ember::boot
