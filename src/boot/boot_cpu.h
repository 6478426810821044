// The CPU state a kernel expects at its entry point, built by ember instead of
// firmware: a GDT, identity-mapped page tables and the boot VCPU's registers.
#pragma once

#include "base/result.h"
#include "boot/boot_image.h"
#include "kvm/vcpu.h"
#include "memory/guest_memory.h"

namespace ember::boot {

// GDT selectors ember's boot GDT provides (Linux's __BOOT_CS/__BOOT_DS are 0x10/0x18).
inline constexpr uint16_t kCode64Selector = 0x10;
inline constexpr uint16_t kDataSelector   = 0x18;
inline constexpr uint16_t kTssSelector    = 0x20;
inline constexpr uint16_t kCode32Selector = 0x28;

// Writes the GDT and, for a 64-bit entry, the page tables identity-mapping
// [0, max(4 GiB, end of RAM)) with 2 MiB pages, up to layout::kMaxIdentityGiB.
// The MMIO hole is mapped uncacheable. A 32-bit entry runs with paging off,
// and its image may occupy where the tables would go (boot/low_memory.h).
Status write_boot_tables(const GuestMemory& memory, EntryMode mode);

// Puts the boot VCPU at `entry`: 64-bit long mode with paging, RSI = boot
// info; or 32-bit protected mode without paging, EBX = boot info (PVH).
Status set_entry_registers(kvm::Vcpu& vcpu, const EntryPoint& entry);

// Puts an AP where a start-up IPI sends it (SDM Vol. 3A 9.4.4): real mode,
// CS:IP = (vector << 8):0000, everything else at its INIT value.
Status set_startup_registers(kvm::Vcpu& vcpu, uint8_t vector);

}  // namespace ember::boot
