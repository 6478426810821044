// The machine ember builds, as a flattened device tree (Devicetree
// Specification 0.4, written with libfdt): CPUs, RAM, the LAPIC and IOAPIC,
// COM1 and every virtio-mmio device with its address and interrupt.
//
// `ember run --dump-dtb PATH` writes it; `dtc -I dtb -O dts PATH` reads it.
// `--describe-machine dtb` hands it to the guest as a SETUP_DTB instead of
// the MP table: x86 Linux reads one only when built with
// CONFIG_OF_EARLY_FLATTREE, and such a kernel would take CPUs and the IOAPIC
// from the tree and from an MP table both (arch/x86/kernel/devicetree.c,
// then mpparse.c), so it gets one or the other, never both.
#pragma once

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "boot/machine_description.h"

namespace ember::boot {

// The interrupt sense cells of the "intel,ce4100-ioapic" binding, as Linux's
// arch/x86/kernel/devicetree.c reads them (of_ioapic_type[]; the binding's
// .txt lists another order, the code is what kernels do).
inline constexpr uint32_t kIoapicEdgeRising = 3, kIoapicLevelHigh = 1;

Result<std::vector<uint8_t>> build_device_tree(const MachineDescription& machine);

}  // namespace ember::boot
