// The xAPIC page as one VCPU sees it (SDM Vol. 3A 11.4.1). Each VCPU's
// LAPIC decodes its own page, wherever IA32_APIC_BASE puts it and only while
// it is enabled in xAPIC mode (Lapic::decodes), so the VCPU thread, which
// owns the LAPIC, offers each MMIO exit to it before the machine's bus: no
// lock, and a moved or disabled LAPIC leaves 0xfee00000 to the bus, where
// nothing answers and reads return all-ones, as on hardware.
#pragma once

#include <cstdint>
#include <span>

#include "irq/lapic.h"

namespace ember {

// Handles an MMIO exit at guest-physical `address` if `lapic` decodes it;
// returns false if not (the access goes on to the bus). Registers are 32
// bits wide and 16-byte aligned; other widths and offsets read all-ones and
// write nothing.
bool lapic_mmio_read(const Lapic& lapic, uint64_t address, std::span<uint8_t> data);
bool lapic_mmio_write(Lapic& lapic, uint64_t address, std::span<const uint8_t> data);

}  // namespace ember
