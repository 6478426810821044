// Fixed guest-physical addresses of what ember writes before the first
// instruction runs. All of it sits in conventional memory below 640 KiB; which
// of it a boot protocol uses, and so where a loaded image may not go, is in
// boot/low_memory.h (Linux and ELF images load at or above 1 MiB).
#pragma once

#include <cstdint>

namespace ember::layout {

inline constexpr uint64_t kGdt           = 0x500;    // 5 descriptors, see boot_cpu.cpp
inline constexpr uint64_t kIdt           = 0x520;    // empty: the guest installs its own
inline constexpr uint64_t kPvhStartInfo  = 0x6000;   // hvm_start_info, then its memmap and modlist
inline constexpr uint64_t kMultibootInfo = 0x6000;   // or multiboot's information (one protocol per boot)
inline constexpr uint64_t kZeroPage      = 0x7000;   // Linux boot_params ("zero page")
inline constexpr uint64_t kBootStackTop  = 0x8ff0;   // 64-bit entry only, as are the page tables
inline constexpr uint64_t kPml4          = 0x9000;
inline constexpr uint64_t kPdpt          = 0xa000;
inline constexpr uint64_t kPageDirs      = 0xb000;   // kMaxIdentityGiB page directories
inline constexpr uint64_t kMaxIdentityGiB = 16;      // the boot page tables map [0, 16 GiB) at most
inline constexpr uint64_t kCmdline       = 0x20000;
inline constexpr uint64_t kCmdlineMax    = 0x10000;  // 64 KiB, the most any kernel header may ask for
inline constexpr uint64_t kSetupData    = 0x30000;  // setup_data nodes (the device tree), up to kEbdaStart
inline constexpr uint64_t kEbdaStart     = 0x9fc00;  // conventional memory ends here (e820)
inline constexpr uint64_t kHighMemory    = 0x100000; // 1 MiB: kernels and guest programs load here or above

static_assert(kPageDirs + kMaxIdentityGiB * 0x1000 <= kCmdline);
static_assert(kCmdline + kCmdlineMax <= kSetupData);
static_assert(kSetupData < kEbdaStart);

}  // namespace ember::layout
