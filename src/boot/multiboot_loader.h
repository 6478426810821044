// Multiboot (v1) kernels, as `qemu-system-x86_64 -kernel` and GRUB start
// them: loaded by their ELF program headers or by the header's address
// fields, entered in 32-bit protected mode with EAX = 0x2BADB002 and EBX =
// the multiboot information (memory sizes, memory map, command line,
// modules). Multiboot Specification 0.6.96.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "boot/load_error.h"
#include "boot/boot_image.h"
#include "boot/multiboot.h"
#include "memory/guest_memory.h"

namespace ember::boot {

struct MultibootHeaderAt {
  uint64_t        offset;  // in the file
  MultibootHeader header;  // the address fields are zero when the file ends first
  bool            checksum_ok;
};

// The first 32-bit aligned multiboot magic in the image's first 8 KiB whose
// checksum holds; failing that, the first magic at all (checksum_ok false),
// so a damaged header is reported rather than ignored.
std::optional<MultibootHeaderAt> find_multiboot_header(std::span<const uint8_t> image);

LoadResult<EntryPoint> load_multiboot(const GuestMemory& memory, const BootInputs& inputs, const MultibootHeaderAt& found);

}  // namespace ember::boot
