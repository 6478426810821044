// Picks the loader for a kernel image by its contents, not its file name.
#pragma once

#include "base/result.h"
#include "boot/boot_image.h"
#include "memory/guest_memory.h"

namespace ember::boot {

// Errors describe the image ("is truncated: ..."); the caller prefixes the
// path, so the user reads "kernel 'x' is truncated: ...".
Result<EntryPoint> load_kernel(const GuestMemory& memory, const BootInputs& inputs);

}  // namespace ember::boot
