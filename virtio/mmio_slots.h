// Where ember puts virtio-mmio devices: slot i at kMmioBase + i * 4 KiB, its
// interrupt on IOAPIC pin kFirstPin + i. Pins 16-23 are the ones no ISA
// device uses; the MP table announces them level-triggered, active high
// (boot/mp_table.cpp), the semantics virtio-mmio's InterruptStatus has.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "platform/address_map.h"
#include "virtio/mmio_transport.h"

namespace ember::virtio {

inline constexpr uint64_t kMmioBase = platform::kVirtioMmioBase;
inline constexpr unsigned kFirstPin = platform::kVirtioMmioFirstPin;
inline constexpr unsigned kMaxMmioDevices = platform::kVirtioMmioSlots;

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
