// Linux bzImage through the 64-bit boot protocol (Documentation/x86/boot.rst,
// "64-bit Boot Protocol"): no real-mode setup code runs; ember fills the zero
// page and enters the protected-mode kernel at its 64-bit entry, offset 0x200.
#pragma once

#include "boot/load_error.h"
#include "boot/boot_image.h"
#include "memory/guest_memory.h"

namespace ember::boot {

// True when `image` carries the "HdrS" setup-header magic at 0x202.
bool looks_like_bzimage(std::span<const uint8_t> image);

LoadResult<EntryPoint> load_bzimage(const GuestMemory& memory, const BootInputs& inputs);

}  // namespace ember::boot
