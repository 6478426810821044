#include "boot/mp_table.h"

#include <cstring>
#include <numeric>
#include <vector>

#include "boot/machine_description.h"
#include "platform/address_map.h"

namespace ember::boot {
namespace {

#pragma pack(push, 1)
struct FloatingPointer {  // MP spec 4.1
  char     signature[4];  // "_MP_"
  uint32_t config_table;
  uint8_t  length_paragraphs;
  uint8_t  revision;
  uint8_t  checksum;
  uint8_t  features[5];   // feature byte 1 = 0: a configuration table follows
};
struct ConfigHeader {     // MP spec 4.2
  char     signature[4];  // "PCMP"
  uint16_t base_length;
  uint8_t  revision;
  uint8_t  checksum;
  char     oem_id[8];
  char     product_id[12];
  uint32_t oem_table;
  uint16_t oem_table_size;
  uint16_t entry_count;
  uint32_t lapic_address;
  uint16_t extended_length;
  uint8_t  extended_checksum;
  uint8_t  reserved;
};
struct ProcessorEntry {   // MP spec 4.3.1
  uint8_t  type;          // 0
  uint8_t  lapic_id;
  uint8_t  lapic_version;
  uint8_t  flags;         // bit 0 enabled, bit 1 bootstrap processor
  uint32_t signature;
  uint32_t feature_flags;
  uint8_t  reserved[8];
};
struct BusEntry {         // MP spec 4.3.2
  uint8_t type;           // 1
  uint8_t bus_id;
  char    bus_type[6];
};
struct IoapicEntry {      // MP spec 4.3.3
  uint8_t  type;          // 2
  uint8_t  id;
  uint8_t  version;
  uint8_t  flags;         // bit 0 enabled
  uint32_t address;
};
struct InterruptEntry {   // MP spec 4.3.4 (type 3) and 4.3.5 (type 4)
  uint8_t  type;
  uint8_t  interrupt_type;  // 0 INT, 1 NMI, 3 ExtINT
  uint16_t flags;           // 0: polarity and trigger conform to the bus
  uint8_t  source_bus;
  uint8_t  source_irq;
  uint8_t  destination_id;  // IOAPIC ID, or 0xff for every LAPIC
  uint8_t  destination_pin; // IOAPIC pin or LINTn
};
#pragma pack(pop)

static_assert(sizeof(FloatingPointer) == 16 && sizeof(ConfigHeader) == 44 && sizeof(ProcessorEntry) == 20);
static_assert(sizeof(BusEntry) == 8 && sizeof(IoapicEntry) == 8 && sizeof(InterruptEntry) == 8);

template <class T>
void append(std::vector<uint8_t>& bytes, const T& entry) {
  const auto* raw = reinterpret_cast<const uint8_t*>(&entry);
  bytes.insert(bytes.end(), raw, raw + sizeof(T));
}

// Every MP structure's bytes sum to zero modulo 256.
uint8_t checksum(const uint8_t* bytes, size_t length) {
  return static_cast<uint8_t>(-std::accumulate(bytes, bytes + length, 0u));
}

constexpr uint8_t kIntTypeInt = 0, kIntTypeNmi = 1, kIntTypeExtInt = 3;
constexpr uint32_t kCpuSignature = 0x600;         // family 6
constexpr uint16_t kLevelActiveHigh = 0x1 | (0x3 << 2);
constexpr uint32_t kCpuFeatures = (1 << 0) | (1 << 9);  // FPU, APIC

}  // namespace

Status write_mp_table(const GuestMemory& memory, uint32_t cpus, uint8_t ioapic_id) {
  std::vector<uint8_t> table(sizeof(ConfigHeader));
  uint16_t entries = 0;
  for (uint32_t cpu = 0; cpu < cpus; ++cpu, ++entries) {
    append(table, ProcessorEntry{0, static_cast<uint8_t>(cpu), 0x14, static_cast<uint8_t>(cpu == 0 ? 3 : 1), kCpuSignature,
                                 kCpuFeatures, {}});
  }
  append(table, BusEntry{1, 0, {'I', 'S', 'A', ' ', ' ', ' '}});
  append(table, IoapicEntry{2, ioapic_id, 0x11, 1, static_cast<uint32_t>(platform::kIoapicBase)});
  entries += 2;
  for (uint8_t irq = 0; irq < 16; ++irq, ++entries) {
    append(table, InterruptEntry{3, kIntTypeInt, 0, 0, irq, ioapic_id, platform::ioapic_pin_of_isa_irq(irq)});
  }
  // Pins 16-23 carry virtio-mmio interrupts (virtio/mmio_slots.h): level,
  // active high (MP spec 1.4 Table 4-10: PO = 01, EL = 11). Linux takes the
  // source IRQ on the ISA bus as its IRQ number, as Firecracker relies on.
  for (uint8_t pin = platform::kVirtioMmioFirstPin; pin < platform::kVirtioMmioFirstPin + platform::kVirtioMmioSlots; ++pin, ++entries) {
    append(table, InterruptEntry{3, kIntTypeInt, kLevelActiveHigh, 0, pin, ioapic_id, pin});
  }
  append(table, InterruptEntry{4, kIntTypeExtInt, 0, 0, 0, 0xff, 0});
  append(table, InterruptEntry{4, kIntTypeNmi, 0, 0, 0, 0xff, 1});
  entries += 2;

  ConfigHeader header{};
  std::memcpy(header.signature, "PCMP", 4);
  header.base_length = static_cast<uint16_t>(table.size());
  header.revision = 4;
  std::memcpy(header.oem_id, "EMBER   ", 8);
  std::memcpy(header.product_id, "EMBER VM    ", 12);
  header.entry_count = entries;
  header.lapic_address = static_cast<uint32_t>(platform::kLapicBase);
  std::memcpy(table.data(), &header, sizeof header);
  table[offsetof(ConfigHeader, checksum)] = checksum(table.data(), table.size());

  const uint64_t config_address = kMpFloatingPointer + sizeof(FloatingPointer);
  FloatingPointer pointer{};
  std::memcpy(pointer.signature, "_MP_", 4);
  pointer.config_table = static_cast<uint32_t>(config_address);
  pointer.length_paragraphs = 1;
  pointer.revision = 4;
  pointer.checksum = checksum(reinterpret_cast<const uint8_t*>(&pointer), sizeof pointer);

  if (!memory.write_object(kMpFloatingPointer, pointer) || !memory.write(config_address, table)) {
    return Error{"guest RAM is too small for the MP table"};
  }
  return {};
}

}  // namespace ember::boot
