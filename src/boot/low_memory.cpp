#include "boot/low_memory.h"

#include <array>

#include "base/strings.h"
#include "boot/layout.h"

namespace ember::boot {
namespace {

constexpr uint64_t kBootGdtEnd = 0x600;  // GDT at 0x500, the empty IDT at 0x520 (boot_cpu.cpp)

constexpr std::array kMultiboot = {
    LowMemoryUse{0, layout::kGdt, "the real-mode IVT and BIOS data area"},
    LowMemoryUse{layout::kGdt, kBootGdtEnd, "ember's boot GDT and IDT"},
    LowMemoryUse{layout::kMultibootInfo, layout::kZeroPage, "the multiboot information"},
    LowMemoryUse{layout::kCmdline, layout::kCmdline + layout::kCmdlineMax, "the multiboot command line and module strings"},
    LowMemoryUse{layout::kEbdaStart, layout::kHighMemory, "the EBDA and BIOS area (the MP table is at 0xf0000)"},
};

constexpr std::array kFirstMib = {
    LowMemoryUse{0, layout::kHighMemory, "the first MiB, where ember keeps boot structures for this protocol"},
};

}  // namespace

std::span<const LowMemoryUse> multiboot_low_memory() { return kMultiboot; }
std::span<const LowMemoryUse> first_mib_reserved() { return kFirstMib; }

std::optional<std::string> overlap_with(std::span<const LowMemoryUse> uses, uint64_t start, uint64_t end) {
  for (const auto& use : uses) {
    if (start < use.end && use.start < end) {
      return "overlaps " + std::string(use.what) + " (" + hex(use.start) + "-" + hex(use.end - 1) + ")";
    }
  }
  return std::nullopt;
}

}  // namespace ember::boot
