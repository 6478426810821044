// ELF64 images: Linux vmlinux with a PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY),
// entered in 32-bit protected mode with EBX = hvm_start_info; any other ELF64
// (ember's guest programs, vmlinux without PVH) is entered at e_entry in
// 64-bit mode with RSI = boot_params, as the Linux 64-bit boot protocol does.
#pragma once

#include "boot/load_error.h"
#include "boot/boot_image.h"
#include "boot/elf_image.h"
#include "memory/guest_memory.h"

namespace ember::boot {

LoadResult<EntryPoint> load_elf(const GuestMemory& memory, const BootInputs& inputs);

}  // namespace ember::boot
