// Multiboot (version 1) structures, as the Multiboot Specification 0.6.96
// defines them: the header a kernel carries (section 3.1), the machine state
// at entry (3.2) and the boot information a boot loader hands over (3.3).
#pragma once

#include <cstdint>

namespace ember::boot {

inline constexpr uint32_t kMultibootHeaderMagic = 0x1badb002;  // in the kernel image
inline constexpr uint32_t kMultibootLoaderMagic = 0x2badb002;  // in EAX at entry
// "The Multiboot header must be contained completely within the first 8192
// bytes of the OS image, and must be longword (32-bit) aligned."
inline constexpr uint64_t kMultibootSearchBytes = 8192;

// Header flags. Bits 0-15 are requirements a boot loader must refuse to
// boot if it does not understand them; bits 16-31 are optional features.
inline constexpr uint32_t kMultibootPageAlignModules = 1u << 0;
inline constexpr uint32_t kMultibootWantsMemoryInfo  = 1u << 1;
inline constexpr uint32_t kMultibootWantsVideoMode   = 1u << 2;
inline constexpr uint32_t kMultibootAddressFields    = 1u << 16;  // the "a.out kludge"

struct MultibootHeader {
  uint32_t magic;
  uint32_t flags;
  uint32_t checksum;  // magic + flags + checksum == 0 (mod 2^32)
  // Valid when flags has kMultibootAddressFields.
  uint32_t header_addr;    // where the header itself is loaded
  uint32_t load_addr;      // where the text segment starts
  uint32_t load_end_addr;  // end of the data segment; 0: the whole file
  uint32_t bss_end_addr;   // end of bss; 0: no bss
  uint32_t entry_addr;
};
inline constexpr uint64_t kMultibootHeaderBaseSize = 12;  // magic, flags, checksum

// Boot information flags: which fields of MultibootInfo are valid.
inline constexpr uint32_t kMultibootInfoMemory     = 1u << 0;
inline constexpr uint32_t kMultibootInfoCmdline    = 1u << 2;
inline constexpr uint32_t kMultibootInfoModules    = 1u << 3;
inline constexpr uint32_t kMultibootInfoMemoryMap  = 1u << 6;
inline constexpr uint32_t kMultibootInfoLoaderName = 1u << 9;

struct MultibootInfo {
  uint32_t flags;
  uint32_t mem_lower;  // KiB of memory from 0
  uint32_t mem_upper;  // KiB of memory from 1 MiB to the first hole
  uint32_t boot_device;
  uint32_t cmdline;
  uint32_t mods_count;
  uint32_t mods_addr;
  uint32_t syms[4];
  uint32_t mmap_length;
  uint32_t mmap_addr;
  uint32_t drives_length;
  uint32_t drives_addr;
  uint32_t config_table;
  uint32_t boot_loader_name;
  uint32_t apm_table;
  uint32_t vbe_control_info;
  uint32_t vbe_mode_info;
  uint16_t vbe_mode;
  uint16_t vbe_interface_seg;
  uint16_t vbe_interface_off;
  uint16_t vbe_interface_len;
};
static_assert(sizeof(MultibootInfo) == 88);

// One memory map entry. `size` counts the bytes after itself, so a reader
// steps by size + 4.
struct __attribute__((packed)) MultibootMemoryMapEntry {
  uint32_t size;
  uint64_t base_addr;
  uint64_t length;
  uint32_t type;  // 1: available RAM; anything else is reserved
};
static_assert(sizeof(MultibootMemoryMapEntry) == 24);

struct MultibootModule {
  uint32_t mod_start;
  uint32_t mod_end;  // one past the last byte
  uint32_t string;   // NUL-terminated, the module's command line
  uint32_t reserved;
};
static_assert(sizeof(MultibootModule) == 16);

}  // namespace ember::boot
