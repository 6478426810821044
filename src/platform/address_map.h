// The machine's address map: every guest-physical address, I/O port and
// interrupt pin ember's PC has, in one place. Devices take their addresses
// from here, and so do the firmware tables that describe them (the MP
// table, ACPI, the device tree: boot/), so the two cannot disagree.
// Where guest RAM and the boot structures inside it go is memory/memory_map.h,
// boot/layout.h and boot/acpi_tables.h (the RSDP). ARCHITECTURE.md, "Address map", draws it.
#pragma once

#include <cstdint>

namespace ember::platform {

// Guest-physical memory: RAM below kMmioHoleStart and above 4 GiB
// (memory/memory_map.h); devices in the hole between.
inline constexpr uint64_t kMmioHoleStart = 0xC000'0000;    // 3 GiB
inline constexpr uint64_t kMmioHoleEnd   = 0x1'0000'0000;  // 4 GiB
inline constexpr uint64_t kVirtioMmioBase = 0xd000'0000;   // virtio-mmio slot i at + i * kVirtioMmioSlotSize
inline constexpr uint64_t kVirtioMmioSlotSize = 0x1000;
inline constexpr unsigned kVirtioMmioSlots = 8;             // on pins kVirtioMmioFirstPin..+7
inline constexpr uint64_t kPciWindowBase = 0xe000'0000;     // PCI BARs (virtio-pci, pvpanic)
inline constexpr unsigned kPciSlots = 32;                   // bus 0; slot 0 is the host bridge
inline constexpr unsigned kVirtioPciMaxDevices = kPciSlots - 2;  // every slot but the host bridge's and pvpanic's
inline constexpr uint64_t kPciWindowSize = 0x0100'0000;
inline constexpr uint64_t kIoapicBase = 0xfec0'0000;
inline constexpr uint64_t kIoapicSize = 0x1000;
inline constexpr uint64_t kLapicBase = 0xfee0'0000;         // every LAPIC's default (IA32_APIC_BASE can move it)
inline constexpr uint64_t kLapicSize = 0x1000;
inline constexpr uint64_t kPcTestdevIomemBase = 0xff00'0000;  // QEMU's pc-testdev, for kvm-unit-tests
inline constexpr uint64_t kPcTestdevIomemSize = 0x10000;

// I/O ports.
inline constexpr uint16_t kPicMasterPort = 0x20, kPicSlavePort = 0xa0, kPicElcrPort = 0x4d0;
inline constexpr uint16_t kPitPort = 0x40;           // 0x40-0x43
inline constexpr uint16_t kPort61 = 0x61;            // PIT channel 2 gate, speaker
inline constexpr uint16_t kI8042DataPort = 0x60, kI8042CommandPort = 0x64;
inline constexpr uint16_t kCmosIndexPort = 0x70;     // 0x70-0x71
inline constexpr uint16_t kPostCodePort = 0x80;
inline constexpr uint16_t kPcTestdevPort = 0xe0;     // 0xe0-0xeb
inline constexpr uint16_t kExitPort = 0xf4;          // the guest's exit status (README, "Exit codes")
inline constexpr uint16_t kBootTimerPort = 0xf5;
inline constexpr uint16_t kCommandPort = 0xf6;       // a restored guest's command (devices/command_port.h)
inline constexpr uint16_t kCom1Port = 0x3f8;         // 0x3f8-0x3ff
inline constexpr uint16_t kFwCfgPort = 0x510;        // 0x510-0x51b
inline constexpr uint16_t kAcpiPmPort = 0x600;       // PM1a event, PM1a control, PM timer: 0x600-0x60b
inline constexpr uint16_t kPciConfigPort = 0xcf8, kPciConfigPortCount = 8;  // address 0xcf8-0xcfb, data 0xcfc-0xcff
inline constexpr uint16_t kPcTestdevIrqPort = 0x2000;

// What the firmware tables promise about devices beyond their addresses
// (boot/acpi_tables.cpp's FADT and DSDT; the devices keep the promise).
inline constexpr uint16_t kAcpiPmEventBlock = kAcpiPmPort, kAcpiPmEventBlockLength = 4;         // PM1a_EVT
inline constexpr uint16_t kAcpiPmControlBlock = kAcpiPmPort + 4, kAcpiPmControlBlockLength = 2;  // PM1a_CNT
inline constexpr uint16_t kAcpiPmTimerBlock = kAcpiPmPort + 8, kAcpiPmTimerBlockLength = 4;      // PM_TMR
inline constexpr uint8_t  kAcpiSleepTypeS5 = 5;     // \_S5's SLP_TYP
inline constexpr uint8_t  kCmosCenturyRegister = 0x32;
inline constexpr uint8_t  kI8042ResetCommand = 0xfe;  // to kI8042CommandPort: the FADT's RESET_REG value

// Interrupts: ISA IRQs reach the 8259s and the IOAPIC pin of the same
// number, except IRQ 0 (the PIT), which reaches pin 2 (the MP table's and
// the MADT's override).
inline constexpr unsigned kIoapicPins = 24;
inline constexpr uint8_t  kCom1Irq = 4;
inline constexpr uint8_t  kI8042KeyboardIrq = 1, kI8042MouseIrq = 12;
inline constexpr uint8_t  kRtcIrq = 8;
inline constexpr uint8_t  kSciIrq = 9;               // ACPI's system control interrupt
inline constexpr uint8_t  kIsaIrq0Pin = 2;
inline constexpr uint8_t  ioapic_pin_of_isa_irq(uint8_t irq) { return irq == 0 ? kIsaIrq0Pin : irq; }
inline constexpr unsigned kVirtioMmioFirstPin = 16;  // the pins no ISA device uses: 16..23
static_assert(kVirtioMmioFirstPin + kVirtioMmioSlots <= kIoapicPins);

}  // namespace ember::platform
