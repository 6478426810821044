// The Intel MultiProcessor Specification 1.4 tables that tell a guest
// kernel (Linux without ACPI) which CPUs exist and where the IOAPIC is.
#pragma once

#include <cstdint>

#include "base/result.h"
#include "memory/guest_memory.h"

namespace ember::boot {

// Where ember puts the MP floating pointer: the BIOS area, which the MP
// spec (4.1) tells the OS to scan, reserved in ember's e820.
inline constexpr uint64_t kMpFloatingPointer = 0xf0000;

// One processor entry per VCPU (APIC ID = index, VCPU 0 the BSP), an ISA
// bus, the IOAPIC with ID `ioapic_id`, ISA IRQs 0-15 on its pins (IRQ 0 on
// pin 2, as on a PC), and ExtINT/NMI on every LAPIC's LINT0/LINT1.
Status write_mp_table(const GuestMemory& memory, uint32_t cpus, uint8_t ioapic_id);

}  // namespace ember::boot
