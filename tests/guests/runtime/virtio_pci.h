/* A minimal modern virtio-pci driver for guest programs (virtio 1.2 §4.1),
 * for ember's functions and QEMU's alike (`disable-legacy=on`): finds the
 * function through PCI configuration mechanism #1, maps its structures
 * through the capability list (whatever BARs they are in, mapping them when
 * firmware put them above 4 GiB), points every queue's MSI-X
 * vector at table entry 0 (a fixed interrupt, `vector`, to APIC 0; vector 0
 * means no interrupts, for drivers that poll), and
 * starts the device like virtio_start. Requests then go through the same
 * virtio_submit / virtio_wait_used and device helpers (virtio_blk.h). */
#pragma once

#include "virtio_mmio.h"

uint32_t pci_config_read32(uint32_t slot, uint32_t offset);
void     pci_config_write32(uint32_t slot, uint32_t offset, uint32_t value);
/* BAR `index`'s memory address (0 for an I/O BAR); 64-bit memory BARs take
 * the next BAR as their high half. */
uint64_t pci_bar_address(uint32_t slot, uint32_t index);
/* The slot on bus 0 of the first modern virtio function of `device_type`,
 * 0 if none. */
uint32_t virtio_pci_find(uint32_t device_type);

/* Returns 0, or a failure text. */
const char* virtio_pci_start(struct virtio_device* d, uint32_t device_type, uint64_t wanted, void* ring_memory,
                             uint16_t queues, uint8_t vector);
