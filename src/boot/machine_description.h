// What the guest is told the machine has: one description from which the MP
// table (boot/mp_table.h), the device tree (boot/device_tree.h) and the ACPI
// tables (boot/acpi_tables.h) are all written, so they cannot disagree.
#pragma once

#include <cstdint>
#include <vector>

#include "memory/memory_map.h"
#include "platform/address_map.h"

namespace ember::boot {

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
