// Writing the pieces every boot protocol shares: command line, initrd, zero page.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "boot/load_error.h"
#include "boot/boot_params.h"
#include "boot/image_bytes.h"
#include "memory/guest_memory.h"

namespace ember::boot {

// Writes `cmdline` NUL-terminated at layout::kCmdline. `max_bytes` counts the
// NUL, as the boot protocol's cmdline_size does.
LoadResult<uint64_t> write_cmdline(const GuestMemory& memory, const std::string& cmdline, uint64_t max_bytes);

// Copies `bytes` (an initrd or a module) page-aligned as high as possible
// into the RAM that starts at 0, with its last byte at or below
// `highest_last_byte` and its first at or above `lowest`. Returns the
// address. `what` names it in the error ("the initrd").
LoadResult<uint64_t> place_high(const GuestMemory& memory, const ImageBytes& bytes, uint64_t lowest,
                            uint64_t highest_last_byte, const std::string& what);

// Fills the zero page's e820 table from `memory` and writes `params` at
// layout::kZeroPage.
LoadStatus write_zero_page(const GuestMemory& memory, BootParams& params);

// The end of the RAM region that starts at 0: below it everything is
// reachable by 32-bit addresses.
uint64_t low_ram_end(const GuestMemory& memory);

}  // namespace ember::boot
