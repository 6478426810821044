// The ACPI tables ember writes for the guest (ACPI 6.5, chapter 5.2), built
// from the same machine description as the MP table:
//   RSDP  at kAcpiRsdp, where an OS without EFI looks (5.2.5.1: the BIOS
//         area 0xe0000-0xfffff, which ember's e820 reserves);
//   XSDT  pointing at the FADT and the MADT;
//   FADT  a full (not hardware-reduced) PC: the legacy PIC, PIT, RTC and
//         ISA devices stay what a kernel finds, as with the MP table, and
//         power-off is the PM1 control register's S5 (devices/acpi_pm.h);
//         reset is 0xfe to the i8042's port 0x64; with a FACS and the DSDT;
//   MADT  every LAPIC, the IOAPIC, ISA IRQ 0 on GSI 2 and the SCI's
//         override, and LINT1 as every CPU's NMI;
//   DSDT  COM1, the PCI host bridge with its windows, every virtio-mmio
//         device (LNRO0005, as Linux's virtio_mmio driver and QEMU's microvm
//         name it) and \_S5.
// Why not hardware-reduced ACPI, as Firecracker and Cloud Hypervisor use:
// Linux then drops the 8259 and the PIT timer (x86 acpi_reduced_hw_init),
// and a guest must calibrate its LAPIC timer with no reference, which ember
// cannot promise on every host (TSC-deadline needs MSR exits).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"
#include "boot/machine_description.h"
#include "memory/guest_memory.h"

namespace ember::boot {

inline constexpr uint64_t kAcpiRsdp = 0xe0000;
inline constexpr uint64_t kAcpiTablesEnd = 0xf0000;  // the MP table follows (mp_table.h)

struct AcpiTable {
  std::string          signature;  // "RSD PTR ", "XSDT", "FACP", "FACS", "APIC", "DSDT"
  uint64_t             address;
  std::vector<uint8_t> bytes;
};

// The tables, the RSDP first, at the guest-physical addresses they go to.
Result<std::vector<AcpiTable>> build_acpi_tables(const MachineDescription& machine);
Status write_acpi_tables(const GuestMemory& memory, const MachineDescription& machine);

}  // namespace ember::boot
