// Where ember puts virtio-mmio devices: slot i at kMmioBase + i * 4 KiB, its
// interrupt on IOAPIC pin kFirstPin + i. Pins 16-23 are the ones no ISA
// device uses; the MP table announces them level-triggered, active high
// (boot/mp_table.cpp), the semantics virtio-mmio's InterruptStatus has.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "virtio/mmio_transport.h"

namespace ember::virtio {

inline constexpr uint64_t kMmioBase = 0xd000'0000;  // in the MMIO hole, clear of the IOAPIC and LAPIC
inline constexpr unsigned kFirstPin = 16;
inline constexpr unsigned kMaxMmioDevices = 8;      // pins 16..23

inline constexpr uint64_t mmio_address(unsigned slot) { return kMmioBase + slot * MmioTransport::kSize; }

// How Linux learns of slot's device without firmware tables
// (Documentation/admin-guide/kernel-parameters.txt, virtio_mmio.device=;
// needs CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES).
inline std::string kernel_parameter(unsigned slot) {
  char text[64];
  std::snprintf(text, sizeof text, "virtio_mmio.device=4K@0x%llx:%u", static_cast<unsigned long long>(mmio_address(slot)),
                kFirstPin + slot);
  return text;
}

}  // namespace ember::virtio
