// The Linux boot protocol's setup_data chain (Documentation/x86/boot.rst,
// "Details of Header Fields", setup_data; protocol 2.09+): a singly linked
// list of typed blobs whose head is boot_params.hdr.setup_data. ember puts
// the device tree there (SETUP_DTB) with --describe-machine dtb.
#pragma once

#include <cstdint>
#include <span>

#include "boot/load_error.h"
#include "memory/guest_memory.h"

namespace ember::boot {

// arch/x86/include/uapi/asm/bootparam.h
inline constexpr uint32_t kSetupDtb = 2;

// Writes `payload` as a setup_data node of `type` at `node_address` and links
// it at the head of the chain of the boot_params at `zero_page` (the kernel
// does not care about the order). The node must fit below `limit`, the end
// of the area reserved for it.
LoadStatus add_setup_data(const GuestMemory& memory, uint64_t zero_page, uint64_t node_address, uint64_t limit, uint32_t type,
                      std::span<const uint8_t> payload);

}  // namespace ember::boot
