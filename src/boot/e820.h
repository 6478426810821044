// The guest's physical memory map as firmware would report it (e820).
#pragma once

#include <vector>

#include "boot/boot_params.h"
#include "memory/guest_memory.h"

namespace ember::boot {

// RAM regions, with the legacy hole [640 KiB, 1 MiB) (EBDA, VGA, BIOS ROM)
// reserved as on a PC so Linux does not put anything there.
std::vector<E820Entry> e820_map(const GuestMemory& memory);

}  // namespace ember::boot
