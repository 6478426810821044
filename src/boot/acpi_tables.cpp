#include "boot/acpi_tables.h"

#include <cstring>
#include <numeric>

#include "boot/aml.h"
#include "platform/address_map.h"

namespace ember::boot {
namespace {

using aml::Bytes;

constexpr char kOemId[] = "EMBER ";        // 6 characters
constexpr char kOemTableId[] = "EMBERVM ";  // 8
constexpr char kCreatorId[] = "EMBR";       // 4

void put(Bytes& bytes, size_t offset, uint64_t value, int width) {
  if (bytes.size() < offset + width) bytes.resize(offset + width);
  for (int i = 0; i < width; ++i) bytes[offset + i] = static_cast<uint8_t>(value >> (8 * i));
}

void put_text(Bytes& bytes, size_t offset, const char* text, size_t width) {
  if (bytes.size() < offset + width) bytes.resize(offset + width);
  std::memcpy(bytes.data() + offset, text, width);
}

// Every table's bytes sum to zero modulo 256 (5.2.6).
uint8_t checksum(const uint8_t* bytes, size_t length) { return static_cast<uint8_t>(-std::accumulate(bytes, bytes + length, 0u)); }

// The 36-byte System Description Table Header (5.2.6), then `body`.
Bytes table(const char* signature, uint8_t revision, const Bytes& body) {
  Bytes bytes(36);
  put_text(bytes, 0, signature, 4);
  put(bytes, 4, 36 + body.size(), 4);
  bytes[8] = revision;
  put_text(bytes, 10, kOemId, 6);
  put_text(bytes, 16, kOemTableId, 8);
  put(bytes, 24, 1, 4);  // OEM revision
  put_text(bytes, 28, kCreatorId, 4);
  put(bytes, 32, 1, 4);  // creator revision
  bytes.insert(bytes.end(), body.begin(), body.end());
  bytes[9] = checksum(bytes.data(), bytes.size());
  return bytes;
}

// A Generic Address Structure (5.2.3.2) for a block of I/O ports.
void put_io_gas(Bytes& bytes, size_t offset, uint16_t port, uint8_t length) {
  constexpr uint8_t kSystemIo = 1;
  const uint8_t access = length == 1 ? 1 : length == 2 ? 2 : 3;  // byte, word, dword
  bytes[offset] = kSystemIo;
  bytes[offset + 1] = static_cast<uint8_t>(length * 8);
  bytes[offset + 2] = 0;
  bytes[offset + 3] = access;
  put(bytes, offset + 4, port, 8);
}

Bytes dsdt(const MachineDescription& machine) {
  using namespace aml;
  using namespace aml::resource;
  std::vector<Bytes> devices;
  devices.push_back(device("COM1", {name("_HID", eisa_id("PNP0501")), name("_UID", integer(1)),
                                    name("_CRS", template_of({io_port(platform::kCom1Port, 8), irq_no_flags(platform::kCom1Irq)}))}));
  // Bus 0 only; configuration through ports 0xcf8-0xcff; the I/O space
  // around them and the BAR window as the bridge's windows (PCI Firmware
  // 3.2, 4.1.1 and 4.2: _CRS of a host bridge).
  const auto window_last = static_cast<uint32_t>(platform::kPciWindowBase + platform::kPciWindowSize - 1);
  devices.push_back(device(
      "PCI0", {name("_HID", eisa_id("PNP0A03")), name("_UID", integer(0)), name("_SEG", integer(0)), name("_BBN", integer(0)),
               name("_CRS", template_of({bus_number_range(0, 0), io_port(platform::kPciConfigPort, platform::kPciConfigPortCount),
                                         io_range(0x0000, 0x0cf7), io_range(0x0d00, 0xffff),
                                         memory_range(static_cast<uint32_t>(platform::kPciWindowBase), window_last)}))}));
  for (size_t i = 0; i < machine.virtio.size(); ++i) {
    const auto& node = machine.virtio[i];
    // VR00, VR01, ...: machine.virtio has at most platform::kVirtioMmioSlots entries.
    const char label[] = {'V', 'R', "0123456789ABCDEF"[(i >> 4) & 0xf], "0123456789ABCDEF"[i & 0xf], 0};
    devices.push_back(device(label, {name("_HID", string("LNRO0005")), name("_UID", integer(i)),
                                     name("_CRS", template_of({memory32_fixed(static_cast<uint32_t>(node.address),
                                                                              static_cast<uint32_t>(node.size)),
                                                               interrupt(node.ioapic_pin, Trigger::Level)}))}));
  }
  Bytes body = scope("\\_SB", devices);
  // \_S5: SLP_TYPa, SLP_TYPb, two reserved (7.4.2).
  const Bytes s5 = name("\\_S5", package({integer(platform::kAcpiSleepTypeS5), integer(platform::kAcpiSleepTypeS5), integer(0), integer(0)}));
  body.insert(body.end(), s5.begin(), s5.end());
  return table("DSDT", 2, body);  // revision 2: integers are 64 bits
}

Bytes madt(const MachineDescription& machine) {
  Bytes body(8);
  put(body, 0, platform::kLapicBase, 4);
  put(body, 4, 1, 4);  // PCAT_COMPAT: there are 8259s, which an OS using the APICs masks
  auto entry = [&](std::initializer_list<uint8_t> bytes) { body.insert(body.end(), bytes); };
  for (uint32_t cpu = 0; cpu < machine.cpus; ++cpu) {
    const auto id = static_cast<uint8_t>(cpu);
    entry({0, 8, id, id, 1, 0, 0, 0});  // Processor Local APIC (5.2.12.2): UID, APIC ID, enabled
  }
  Bytes ioapic{1, 12, machine.ioapic_id, 0};  // I/O APIC (5.2.12.3), GSI base 0
  put(ioapic, 4, platform::kIoapicBase, 4);
  put(ioapic, 8, 0, 4);
  body.insert(body.end(), ioapic.begin(), ioapic.end());
  // Interrupt Source Overrides (5.2.12.5): ISA IRQ 0 is on pin 2, as on a
  // PC; the SCI is level-triggered, active high (flags: polarity 01,
  // trigger 11), the same as QEMU's.
  entry({2, 10, 0, 0, platform::kIsaIrq0Pin, 0, 0, 0, 0, 0});
  entry({2, 10, 0, platform::kSciIrq, platform::kSciIrq, 0, 0, 0, 0x0d, 0});
  entry({4, 6, 0xff, 0, 0, 1});  // Local APIC NMI (5.2.12.7): every CPU, LINT1
  return table("APIC", 5, body);
}

Bytes facs() {
  Bytes bytes(64);  // 5.2.10: no checksum; the OS's global lock and waking vector live here
  put_text(bytes, 0, "FACS", 4);
  put(bytes, 4, 64, 4);
  bytes[32] = 2;  // version
  return bytes;
}

Bytes fadt(uint64_t facs_address, uint64_t dsdt_address) {
  Bytes body(276 - 36);
  auto at = [&](size_t offset, uint64_t value, int width) { put(body, offset - 36, value, width); };
  at(36, facs_address, 4);
  at(40, dsdt_address, 4);
  at(46, platform::kSciIrq, 2);
  at(56, platform::kAcpiPmEventBlock, 4);
  at(64, platform::kAcpiPmControlBlock, 4);
  at(76, platform::kAcpiPmTimerBlock, 4);
  at(88, platform::kAcpiPmEventBlockLength, 1);
  at(89, platform::kAcpiPmControlBlockLength, 1);
  at(91, platform::kAcpiPmTimerBlockLength, 1);
  at(96, 101, 2);   // P_LVL2_LAT > 100: no C2
  at(98, 1001, 2);  // P_LVL3_LAT > 1000: no C3
  at(108, platform::kCmosCenturyRegister, 1);
  // IA-PC boot architecture flags (5.2.9.3): LEGACY_DEVICES, 8042, VGA not
  // present (so no VGA probe); MSI and the CMOS RTC are there.
  at(109, 0x1 | 0x2 | 0x4, 2);
  // Flags (Table 5.10): WBINVD, PROC_C1, PWR_BUTTON and SLP_BUTTON (none
  // as a fixed feature), TMR_VAL_EXT (a 32-bit PM timer), RESET_REG_SUP.
  at(112, (1u << 0) | (1u << 2) | (1u << 4) | (1u << 5) | (1u << 8) | (1u << 10), 4);
  put_io_gas(body, 116 - 36, platform::kI8042CommandPort, 1);
  at(128, platform::kI8042ResetCommand, 1);
  at(131, 5, 1);  // FADT minor version: ACPI 6.5
  // X_FIRMWARE_CTRL stays 0: the FACS is below 4 GiB, and with both set
  // an OS may take it twice (Table 5.9 has one or the other).
  at(140, dsdt_address, 8);
  put_io_gas(body, 148 - 36, platform::kAcpiPmEventBlock, platform::kAcpiPmEventBlockLength);
  put_io_gas(body, 172 - 36, platform::kAcpiPmControlBlock, platform::kAcpiPmControlBlockLength);
  put_io_gas(body, 208 - 36, platform::kAcpiPmTimerBlock, platform::kAcpiPmTimerBlockLength);
  return table("FACP", 6, body);
}

Bytes rsdp(uint64_t xsdt_address) {
  Bytes bytes(36);
  put_text(bytes, 0, "RSD PTR ", 8);
  put_text(bytes, 9, kOemId, 6);
  bytes[15] = 2;  // revision 2: ACPI 2.0 and later, with an XSDT
  put(bytes, 20, 36, 4);
  put(bytes, 24, xsdt_address, 8);
  bytes[8] = checksum(bytes.data(), 20);             // the ACPI 1.0 part
  bytes[32] = checksum(bytes.data(), bytes.size());  // the whole structure
  return bytes;
}

uint64_t align_up(uint64_t value, uint64_t alignment) { return (value + alignment - 1) & ~(alignment - 1); }

}  // namespace

Result<std::vector<AcpiTable>> build_acpi_tables(const MachineDescription& machine) {
  std::vector<AcpiTable> tables;
  // Laid out after the RSDP in order; the FACS must be 64-byte aligned (5.2.10).
  uint64_t next = kAcpiRsdp + 64;
  auto place = [&](const char* signature, Bytes bytes, uint64_t alignment = 16) {
    const uint64_t address = align_up(next, alignment);
    next = address + bytes.size();
    tables.push_back({signature, address, std::move(bytes)});
    return address;
  };
  const uint64_t facs_address = place("FACS", facs(), 64);
  const uint64_t dsdt_address = place("DSDT", dsdt(machine));
  const uint64_t fadt_address = place("FACP", fadt(facs_address, dsdt_address));
  const uint64_t madt_address = place("APIC", madt(machine));
  Bytes pointers;
  for (const uint64_t address : {fadt_address, madt_address}) {
    for (int i = 0; i < 8; ++i) pointers.push_back(static_cast<uint8_t>(address >> (8 * i)));
  }
  const uint64_t xsdt_address = place("XSDT", table("XSDT", 1, pointers));
  if (next > kAcpiTablesEnd) {
    return Error{"the ACPI tables for " + std::to_string(machine.cpus) + " CPUs and " + std::to_string(machine.virtio.size()) +
                 " virtio-mmio devices do not fit below the MP table"};
  }
  tables.insert(tables.begin(), AcpiTable{"RSD PTR ", kAcpiRsdp, rsdp(xsdt_address)});
  return tables;
}

Status write_acpi_tables(const GuestMemory& memory, const MachineDescription& machine) {
  auto tables = build_acpi_tables(machine);
  if (!tables) return tables.error();
  for (const auto& table : *tables) {
    if (!memory.write(table.address, table.bytes)) return Error{"guest RAM is too small for the ACPI tables"};
  }
  return {};
}

}  // namespace ember::boot
