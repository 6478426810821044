#include "virtio_pci.h"

#define PCI_ADDRESS_PORT 0xcf8
#define PCI_DATA_PORT 0xcfc
#define VIRTIO_VENDOR 0x1af4
#define CAP_VENDOR 0x09
#define CAP_MSIX 0x11
#define CFG_COMMON 1
#define CFG_NOTIFY 2
#define CFG_DEVICE 4

/* struct virtio_pci_common_cfg offsets (§4.1.4.3). */
#define COMMON_DEVICE_FEATURE_SELECT 0x00
#define COMMON_DEVICE_FEATURE 0x04
#define COMMON_DRIVER_FEATURE_SELECT 0x08
#define COMMON_DRIVER_FEATURE 0x0c
#define COMMON_STATUS 0x14
#define COMMON_QUEUE_SELECT 0x16
#define COMMON_QUEUE_SIZE 0x18
#define COMMON_QUEUE_MSIX_VECTOR 0x1a
#define COMMON_QUEUE_ENABLE 0x1c
#define COMMON_QUEUE_NOTIFY_OFF 0x1e
#define COMMON_QUEUE_DESC 0x20
#define COMMON_QUEUE_DRIVER 0x28
#define COMMON_QUEUE_DEVICE 0x30


uint32_t pci_config_read32(uint32_t slot, uint32_t offset) {
  outl(PCI_ADDRESS_PORT, 0x80000000u | slot << 11 | (offset & 0xfc));
  return inl(PCI_DATA_PORT);
}

void pci_config_write32(uint32_t slot, uint32_t offset, uint32_t value) {
  outl(PCI_ADDRESS_PORT, 0x80000000u | slot << 11 | (offset & 0xfc));
  outl(PCI_DATA_PORT, value);
}

uint32_t virtio_pci_find(uint32_t device_type) {
  for (uint32_t slot = 1; slot < 32; ++slot) {
    if (pci_config_read32(slot, 0) == (VIRTIO_VENDOR | (0x1040u + device_type) << 16)) return slot;
  }
  return 0;
}

static uint8_t config8(uint32_t slot, uint32_t offset) { return (uint8_t)(pci_config_read32(slot, offset) >> (8 * (offset & 3))); }

uint64_t pci_bar_address(uint32_t slot, uint32_t index) {
  if (index > 5) return 0;
  const uint32_t low = pci_config_read32(slot, 0x10 + 4 * index);
  if (low & 1) return 0; /* an I/O BAR */
  const uint64_t high = (low & 0x6) == 0x4 && index < 5 ? pci_config_read32(slot, 0x14 + 4 * index) : 0;
  return (high << 32 | low) & ~0xfull;
}

/* Makes [address, address + 2 MiB) reachable, identity-mapped and
 * uncacheable, for BARs firmware put above the 4 GiB the boot page tables
 * cover (SeaBIOS puts 64-bit BARs there). Uses 2 MiB pages from a small
 * static pool; returns 0 when the pool is spent. */
static uint64_t high_tables[6][512] __attribute__((aligned(4096)));
static int high_tables_used;

static uint64_t* table_below(uint64_t* entry) {
  if (!(*entry & 1)) {
    if (high_tables_used == 6) return 0;
    uint64_t* fresh = high_tables[high_tables_used++];
    memset(fresh, 0, 4096);
    *entry = (uint64_t)fresh | 0x3;
  }
  return (uint64_t*)(*entry & 0x000ffffffffff000ull);
}

static int map_high(uint64_t address) {
  if (address < (4ull << 30)) return 1; /* the boot page tables cover it */
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  uint64_t* pml4 = (uint64_t*)(cr3 & 0x000ffffffffff000ull);
  uint64_t* pdpt = table_below(&pml4[(address >> 39) & 511]);
  if (!pdpt) return 0;
  if (pdpt[(address >> 30) & 511] & 0x80) return 1; /* already a 1 GiB page */
  uint64_t* pd = table_below(&pdpt[(address >> 30) & 511]);
  if (!pd) return 0;
  pd[(address >> 21) & 511] = (address & ~0x1fffffull) | 0x80 | 0x10 | 0x3; /* 2 MiB, PCD, RW, P */
  __asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
  return 1;
}

static volatile uint8_t* common;
static void common8(uint32_t at, uint8_t v) { *(volatile uint8_t*)(common + at) = v; }
static void common16(uint32_t at, uint16_t v) { *(volatile uint16_t*)(common + at) = v; }
static void common32(uint32_t at, uint32_t v) { *(volatile uint32_t*)(common + at) = v; }
static uint8_t read_common8(uint32_t at) { return *(volatile uint8_t*)(common + at); }
static uint16_t read_common16(uint32_t at) { return *(volatile uint16_t*)(common + at); }
static uint32_t read_common32(uint32_t at) { return *(volatile uint32_t*)(common + at); }

const char* virtio_pci_start(struct virtio_device* d, uint32_t device_type, uint64_t wanted, void* ring_memory,
                             uint16_t queues, uint8_t vector) {
  if (queues == 0 || queues > VIRTIO_MAX_QUEUES) return "virtio_pci_start: unsupported queue count";
  const uint32_t slot = virtio_pci_find(device_type);
  if (slot == 0) return "no virtio-pci function of that type on bus 0";
  pci_config_write32(slot, 0x04, 0x6); /* memory decoding and bus mastering */

  /* The structures may sit in any memory BAR (ember uses BAR0, QEMU BAR4
   * and the MSI-X table in BAR1): each capability names its own. */
  uint64_t common_at = 0, device_at = 0, notify_at = 0, msix_table = 0;
  uint32_t multiplier = 0, msix = 0;
  for (uint32_t at = config8(slot, 0x34); at != 0; at = config8(slot, at + 1)) {
    const uint8_t id = config8(slot, at);
    if (id == CAP_MSIX) {
      const uint32_t table = pci_config_read32(slot, at + 4);
      msix = at;
      msix_table = pci_bar_address(slot, table & 7) + (table & ~7u);
      if (!map_high(msix_table)) return "no page tables left to map a BAR above 4 GiB";
    }
    if (id != CAP_VENDOR) continue;
    const uint8_t type = config8(slot, at + 3);
    if (type != CFG_COMMON && type != CFG_DEVICE && type != CFG_NOTIFY) continue; /* ISR and PCI_CFG: unused */
    const uint64_t bar = pci_bar_address(slot, config8(slot, at + 4));
    if (bar == 0) return "a virtio BAR is unassigned";
    const uint64_t where = bar + pci_config_read32(slot, at + 8);
    if (!map_high(where)) return "no page tables left to map a BAR above 4 GiB";
    if (type == CFG_COMMON) common_at = where;
    if (type == CFG_DEVICE) device_at = where;
    if (type == CFG_NOTIFY) {
      notify_at = where;
      multiplier = pci_config_read32(slot, at + 16);
    }
  }
  if (!common_at || !device_at || !notify_at || !msix) return "a virtio or MSI-X capability is missing";

  /* MSI-X table entry 0: a fixed interrupt to APIC 0, unmasked; enabled. */
  volatile uint32_t* entry = (volatile uint32_t*)msix_table;
  entry[0] = 0xfee00000u;
  entry[1] = 0;
  entry[2] = vector;
  entry[3] = 0;
  pci_config_write32(slot, msix, pci_config_read32(slot, msix) | 0x80000000u);

  common = (volatile uint8_t*)common_at;
  d->base = 0;
  d->config = device_at;
  common8(COMMON_STATUS, 0);
  common8(COMMON_STATUS, 1);
  common8(COMMON_STATUS, 1 | 2);
  common32(COMMON_DEVICE_FEATURE_SELECT, 0);
  uint64_t offered = read_common32(COMMON_DEVICE_FEATURE);
  common32(COMMON_DEVICE_FEATURE_SELECT, 1);
  offered |= (uint64_t)read_common32(COMMON_DEVICE_FEATURE) << 32;
  d->features = (offered & wanted) | (1ull << 32);
  common32(COMMON_DRIVER_FEATURE_SELECT, 0);
  common32(COMMON_DRIVER_FEATURE, (uint32_t)d->features);
  common32(COMMON_DRIVER_FEATURE_SELECT, 1);
  common32(COMMON_DRIVER_FEATURE, (uint32_t)(d->features >> 32));
  common8(COMMON_STATUS, 1 | 2 | 8);
  if (!(read_common8(COMMON_STATUS) & 8)) return "the device refused the features";

  uint32_t notify_off = 0;
  for (uint16_t i = 0; i < queues; ++i) {
    struct virtq* q = &d->queue[i];
    virtq_init(q, i, ring_memory);
    common16(COMMON_QUEUE_SELECT, i);
    if (read_common16(COMMON_QUEUE_SIZE) < VIRTIO_QUEUE_SIZE) return "a queue is too small or missing";
    common16(COMMON_QUEUE_SIZE, VIRTIO_QUEUE_SIZE);
    /* vector 0: a polling driver, no interrupts at all (VIRTIO_MSI_NO_VECTOR). */
    const uint16_t entry_index = vector ? 0 : 0xffff;
    common16(COMMON_QUEUE_MSIX_VECTOR, entry_index);
    if (read_common16(COMMON_QUEUE_MSIX_VECTOR) != entry_index) return "the device did not take the MSI-X vector";
    common32(COMMON_QUEUE_DESC, (uint32_t)(uintptr_t)q->desc);
    common32(COMMON_QUEUE_DESC + 4, 0);
    common32(COMMON_QUEUE_DRIVER, (uint32_t)(uintptr_t)q->avail);
    common32(COMMON_QUEUE_DRIVER + 4, 0);
    common32(COMMON_QUEUE_DEVICE, (uint32_t)(uintptr_t)q->used);
    common32(COMMON_QUEUE_DEVICE + 4, 0);
    notify_off = read_common16(COMMON_QUEUE_NOTIFY_OFF);
    if (notify_off != i) return "queue_notify_off is not the queue's index";
    common16(COMMON_QUEUE_ENABLE, 1);
  }
  d->notify = notify_at;
  d->notify_multiplier = multiplier;
  common8(COMMON_STATUS, 1 | 2 | 8 | 4);
  if (read_common8(COMMON_STATUS) & 64) return "the device needs a reset right after DRIVER_OK";
  return 0;
}
