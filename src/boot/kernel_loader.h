// Picks the loader for a kernel image by its contents, not its file name.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "boot/load_error.h"
#include "boot/boot_image.h"
#include "memory/guest_memory.h"

namespace ember::boot {

// Errors describe the image ("is truncated: ..."); the caller prefixes the
// path, so the user reads "kernel 'x' is truncated: ...".
LoadResult<EntryPoint> load_kernel(const GuestMemory& memory, const BootInputs& inputs);

// What load_kernel says of an image no loader recognizes, decided from its
// first kKernelHeadBytes bytes alone (every format's magic lies there); nullopt
// if some loader may take it. Lets a caller refuse a huge file without
// reading it all.
inline constexpr uint64_t kKernelHeadBytes = 64 * 1024;
std::optional<LoadError> unrecognized_kernel(std::span<const uint8_t> head);

// Whether the image whose first kKernelHeadBytes bytes are `head` must be in
// memory whole, with its initrd: multiboot kernels. A bzImage or an ELF
// image may be an open file (ImageBytes), read piece by piece into guest RAM.
bool loads_from_memory_only(std::span<const uint8_t> head);

}  // namespace ember::boot
