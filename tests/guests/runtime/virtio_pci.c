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

static inline void outl(uint16_t port, uint32_t value) { __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port)); }

uint32_t pci_config_read32(uint32_t slot, uint32_t offset) {
  outl(PCI_ADDRESS_PORT, 0x80000000u | slot << 11 | (offset & 0xfc));
  return inl(PCI_DATA_PORT);
}

void pci_config_write32(uint32_t slot, uint32_t offset, uint32_t value) {
  outl(PCI_ADDRESS_PORT, 0x80000000u | slot << 11 | (offset & 0xfc));
  outl(PCI_DATA_PORT, value);
}

static uint8_t config8(uint32_t slot, uint32_t offset) { return (uint8_t)(pci_config_read32(slot, offset) >> (8 * (offset & 3))); }

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
  uint32_t slot = 1;
  for (; slot < 32; ++slot) {
    if (pci_config_read32(slot, 0) == (VIRTIO_VENDOR | (0x1040u + device_type) << 16)) break;
  }
  if (slot == 32) return "no virtio-pci function of that type on bus 0";
  if (config8(slot, 0x3d) != 0) return "the function has an INTx pin; ember's have none";
  pci_config_write32(slot, 0x04, 0x6); /* memory decoding and bus mastering */
  const uint64_t bar = ((uint64_t)pci_config_read32(slot, 0x14) << 32 | pci_config_read32(slot, 0x10)) & ~0xfull;
  if (bar == 0) return "BAR0 is not assigned";

  uint64_t common_at = 0, device_at = 0, notify_at = 0, msix_table = 0;
  uint32_t multiplier = 0, msix = 0;
  for (uint32_t at = config8(slot, 0x34); at != 0; at = config8(slot, at + 1)) {
    const uint8_t id = config8(slot, at);
    if (id == CAP_MSIX) {
      msix = at;
      msix_table = bar + (pci_config_read32(slot, at + 4) & ~7u);
    }
    if (id != CAP_VENDOR) continue;
    const uint64_t where = bar + pci_config_read32(slot, at + 8);
    switch (config8(slot, at + 3)) {
      case CFG_COMMON: common_at = where; break;
      case CFG_DEVICE: device_at = where; break;
      case CFG_NOTIFY:
        notify_at = where;
        multiplier = pci_config_read32(slot, at + 16);
        break;
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
    uint8_t* ring = (uint8_t*)ring_memory + 4096 * i;
    virtq_init(&d->queue[i], i, ring_memory);
    common16(COMMON_QUEUE_SELECT, i);
    if (read_common16(COMMON_QUEUE_SIZE) < VIRTIO_QUEUE_SIZE) return "a queue is too small or missing";
    common16(COMMON_QUEUE_SIZE, VIRTIO_QUEUE_SIZE);
    common16(COMMON_QUEUE_MSIX_VECTOR, 0);
    if (read_common16(COMMON_QUEUE_MSIX_VECTOR) != 0) return "the device did not take MSI-X vector 0";
    common32(COMMON_QUEUE_DESC, (uint32_t)(uint64_t)ring);
    common32(COMMON_QUEUE_DESC + 4, 0);
    common32(COMMON_QUEUE_DRIVER, (uint32_t)(uint64_t)(ring + 0x100));
    common32(COMMON_QUEUE_DRIVER + 4, 0);
    common32(COMMON_QUEUE_DEVICE, (uint32_t)(uint64_t)(ring + 0x200));
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
