// What a loader needs and what it hands back.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "boot/image_bytes.h"

namespace ember::boot {

// A multiboot module: its bytes and the string the kernel sees with it.
struct BootModule {
  std::span<const uint8_t> bytes;
  std::string              cmdline;
};

// "the initrd 'PATH'" in errors (a loader's are prefixed with the kernel's name).
inline std::string describe_initrd(const std::string& path) { return path.empty() ? "the initrd" : "the initrd '" + path + "'"; }

struct BootInputs {
  // Multiboot kernels and their initrd must be in memory whole (their
  // loader reads the image as one span); the others may be open files.
  ImageBytes               kernel;
  ImageBytes               initrd;   // empty: no initrd
  std::string              cmdline;
  // Multiboot only: boot loaders put the kernel's and the initrd's file
  // names in front of their command lines (GRUB, QEMU), and further modules.
  std::string              kernel_name = {};
  std::string              initrd_name = {};
  std::vector<BootModule>  modules = {};
};

enum class EntryMode {
  Long64,     // 64-bit mode, paging on (identity map), RSI = boot_params: Linux 64-bit boot protocol
  Protected32 // 32-bit protected mode, paging off, EBX = boot info (PVH's hvm_start_info, multiboot's information)
};

struct EntryPoint {
  EntryMode mode;
  uint64_t  address;    // RIP
  uint64_t  boot_info;  // RSI (Long64) or RBX (Protected32)
  uint32_t  eax = 0;    // Protected32: multiboot's boot loader magic
};

}  // namespace ember::boot
