// The Linux x86 boot protocol's structures, from Documentation/x86/boot.rst
// and arch/x86/include/uapi/asm/bootparam.h, plus the PVH start_info from
// include/xen/interface/hvm/start_info.h. Only the fields ember uses are
// named; offsets are pinned by static_asserts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ember::boot {

#pragma pack(push, 1)

struct SetupHeader {
  uint8_t  setup_sects;
  uint16_t root_flags;
  uint32_t syssize;
  uint16_t ram_size;
  uint16_t vid_mode;
  uint16_t root_dev;
  uint16_t boot_flag;
  uint16_t jump;
  uint32_t header;
  uint16_t version;
  uint32_t realmode_swtch;
  uint16_t start_sys_seg;
  uint16_t kernel_version;
  uint8_t  type_of_loader;
  uint8_t  loadflags;
  uint16_t setup_move_size;
  uint32_t code32_start;
  uint32_t ramdisk_image;
  uint32_t ramdisk_size;
  uint32_t bootsect_kludge;
  uint16_t heap_end_ptr;
  uint8_t  ext_loader_ver;
  uint8_t  ext_loader_type;
  uint32_t cmd_line_ptr;
  uint32_t initrd_addr_max;
  uint32_t kernel_alignment;
  uint8_t  relocatable_kernel;
  uint8_t  min_alignment;
  uint16_t xloadflags;
  uint32_t cmdline_size;
  uint32_t hardware_subarch;
  uint64_t hardware_subarch_data;
  uint32_t payload_offset;
  uint32_t payload_length;
  uint64_t setup_data;
  uint64_t pref_address;
  uint32_t init_size;
  uint32_t handover_offset;
  uint32_t kernel_info_offset;
};

struct E820Entry {
  uint64_t address;
  uint64_t size;
  uint32_t type;
};

struct BootParams {
  uint8_t     before_e820_entries[0x1e8];
  uint8_t     e820_entries;  // 0x1e8
  uint8_t     before_hdr[0x1f1 - 0x1e9];
  SetupHeader hdr;           // 0x1f1
  uint8_t     before_e820_table[0x2d0 - 0x1f1 - sizeof(SetupHeader)];
  E820Entry   e820_table[128];  // 0x2d0
  uint8_t     tail[0x1000 - 0x2d0 - 128 * sizeof(E820Entry)];
};

#pragma pack(pop)

static_assert(sizeof(SetupHeader) == 0x26c - 0x1f1);  // kernel_info_offset is at 0x268
static_assert(offsetof(BootParams, hdr) == 0x1f1);
static_assert(offsetof(BootParams, hdr) + offsetof(SetupHeader, header) == 0x202);
static_assert(offsetof(BootParams, hdr) + offsetof(SetupHeader, cmd_line_ptr) == 0x228);
static_assert(offsetof(BootParams, hdr) + offsetof(SetupHeader, init_size) == 0x260);
static_assert(offsetof(BootParams, e820_table) == 0x2d0);
static_assert(sizeof(BootParams) == 0x1000);

inline constexpr uint32_t kHeaderMagic      = 0x53726448;  // "HdrS"
inline constexpr uint16_t kBootFlag         = 0xaa55;
inline constexpr uint8_t  kLoadedHigh       = 1 << 0;
inline constexpr uint16_t kXlfKernel64      = 1 << 0;
inline constexpr uint8_t  kLoaderUndefined  = 0xff;      // type_of_loader: "not assigned"
inline constexpr uint32_t kE820Ram          = 1;
inline constexpr uint32_t kE820Reserved     = 2;
inline constexpr uint64_t kLinuxCommandLineSize = 2048;  // x86 COMMAND_LINE_SIZE

// PVH boot (xen/interface/hvm/start_info.h), version 1 with the memory map.
struct HvmStartInfo {
  uint32_t magic;
  uint32_t version;
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr;
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr;
  uint32_t memmap_entries;
  uint32_t reserved;
};
struct HvmModlistEntry {
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
};
struct HvmMemmapEntry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
};
static_assert(sizeof(HvmStartInfo) == 56);
static_assert(sizeof(HvmMemmapEntry) == 24);

inline constexpr uint32_t kHvmStartMagic      = 0x336ec578;
inline constexpr uint32_t kXenElfnotePhys32Entry = 18;  // xen/interface/elfnote.h

}  // namespace ember::boot
