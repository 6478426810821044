// What the guest is told the machine has: one description from which the MP
// table (boot/mp_table.h), the device tree (boot/device_tree.h) and the ACPI
// tables (boot/acpi_tables.h) are all written, so they cannot disagree.
#pragma once

#include <cstdint>
#include <vector>

#include "memory/memory_map.h"

namespace ember::boot {

// The PC's first serial port, the one ember emulates (devices/uart16550.h).
inline constexpr uint16_t kCom1Port = 0x3f8;
inline constexpr uint8_t  kCom1Irq = 4;  // ISA IRQ 4, on IOAPIC pin 4
// ISA IRQ 0 (the PIT's) is on IOAPIC pin 2, as on a PC; every other ISA IRQ
// is on the pin of its number. The MP table's entries, the MADT's override
// and the machine's wiring all take it from here.
inline constexpr uint8_t kIsaIrq0Pin = 2;
inline constexpr uint8_t ioapic_pin_of_isa_irq(uint8_t irq) { return irq == 0 ? kIsaIrq0Pin : irq; }

struct VirtioMmioNode {
  uint64_t address;
  uint64_t size;
  uint32_t ioapic_pin;  // level-triggered, active high (mp_table.cpp)
};

struct MachineDescription {
  uint32_t                    cpus;        // APIC IDs 0 .. cpus-1
  std::vector<RamRegion>      ram;
  uint8_t                     ioapic_id;
  std::vector<VirtioMmioNode> virtio;
};

}  // namespace ember::boot
