/* A guest that moves its virtio-pci function's BAR before using it, as a
 * firmware or an OS reassigning resources may: with move_to=ADDRESS (an
 * address in ember's PCI window) BAR0 goes there while memory decoding is
 * off. Then `requests` polled one-sector reads, each a queue notify. The
 * kvm tier compares ember's MMIO exit counts with and without the move:
 * the notifies should reach the worker through KVM's ioeventfd either way,
 * costing no exit. */
#include "runtime/virtio_blk.h"
#include "runtime/virtio_pci.h"

static uint8_t ring[4096] __attribute__((aligned(4096)));
static uint8_t sector[512] __attribute__((aligned(512)));
static struct virtio_device disk;

int guest_main(void) {
  const uint32_t slot = virtio_pci_find(2);
  if (slot == 0) guest_fail("no virtio-blk function on PCI bus 0");
  const uint64_t move_to = cmdline_number("move_to", 0);
  if (move_to != 0) {
    pci_config_write32(slot, 0x04, 0);  /* decoding off while the BAR moves */
    pci_config_write32(slot, 0x10, (uint32_t)move_to);
    pci_config_write32(slot, 0x14, (uint32_t)(move_to >> 32));
  }
  /* Polled: no MSI-X vector. Turns decoding back on. */
  const char* failed = virtio_pci_start(&disk, 2, VIRTIO_BLK_F_FLUSH, ring, 1, 0);
  if (failed) guest_fail(failed);
  const uint64_t bar = pci_bar_address(slot, 0);
  if (move_to != 0 && bar != move_to) guest_fail("the BAR did not move");

  const uint64_t requests = cmdline_number("requests", 100);
  for (uint64_t i = 0; i < requests; ++i) {
    if (virtio_blk_request(&disk, VIRTIO_BLK_T_IN, 0, sector, sizeof sector) != 0) guest_fail("read failed");
  }
  serial_print("BAR at ");
  serial_print_hex(bar);
  serial_print(", reads done: ");
  serial_print_dec(requests);
  serial_print("\n");
  return 0;
}
