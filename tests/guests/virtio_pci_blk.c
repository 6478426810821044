/* virtio-blk over virtio-pci with a minimal driver (runtime/virtio_pci.c):
 * finds the function on PCI bus 0, checks the capacity, writes sectors 1-3,
 * flushes and reads 0-3 back, with every completion signalled by MSI-X
 * (table entry 0, vector 0x51, to APIC 0). The host checks the file
 * afterwards (kvm tier). The image's sector k starts out filled with the
 * byte k. */
#include "runtime/interrupts.h"
#include "runtime/virtio_blk.h"
#include "runtime/virtio_pci.h"

#define VECTOR 0x51

static uint8_t ring[4096] __attribute__((aligned(4096)));
static uint8_t buffer[4 * 512] __attribute__((aligned(512)));
static struct virtio_device disk;
static volatile uint32_t interrupts;

static void on_msix(uint8_t vector) {
  (void)vector;
  interrupts++;
  lapic_eoi();  /* an MSI is edge-like: nothing to acknowledge at the device */
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(VECTOR, on_msix);
  enable_interrupts();

  const char* failed = virtio_pci_start(&disk, 2, VIRTIO_BLK_F_FLUSH, ring, 1, VECTOR);
  if (failed) guest_fail(failed);
  if ((pci_config_read32(1, 0x3c) >> 8 & 0xff) != 0) guest_fail("ember's functions have no INTx pin, this one has");
  const uint64_t sectors = virtio_config32(&disk, 0) | ((uint64_t)virtio_config32(&disk, 4) << 32);
  if (sectors != cmdline_number("sectors", 0)) guest_fail("capacity differs from the image size");

  for (int s = 1; s <= 3; ++s) memset(buffer + 512 * (s - 1), 0xB0 + s, 512);
  /* virtio_blk_request polls the used ring, so it can return before the
   * completion's MSI-X message is delivered. Each request waits for its
   * interrupt before the next: two messages for one vector that both arrive
   * while the first is still pending in the LAPIC's IRR are one interrupt
   * (Intel SDM Vol. 3A 11.8.4), which a slow host (the nested tier, a
   * sanitizer build) made happen. */
  if (virtio_blk_request(&disk, VIRTIO_BLK_T_OUT, 1, buffer, 3 * 512) != 0) guest_fail("write failed");
  if (!wait_for_count(&interrupts, 1, 30000 * MILLION_CYCLES)) guest_fail("no MSI-X interrupt for the write");
  if (virtio_blk_request(&disk, VIRTIO_BLK_T_FLUSH, 0, 0, 0) != 0) guest_fail("flush failed");
  if (!wait_for_count(&interrupts, 2, 30000 * MILLION_CYCLES)) guest_fail("no MSI-X interrupt for the flush");
  memset(buffer, 0x55, sizeof buffer);
  if (virtio_blk_request(&disk, VIRTIO_BLK_T_IN, 0, buffer, 4 * 512) != 0) guest_fail("read failed");
  for (int s = 0; s < 4; ++s) {
    const uint8_t wanted = (uint8_t)(s == 0 ? 0 : 0xB0 + s);
    if (buffer[512 * s] != wanted || buffer[512 * s + 511] != wanted) guest_fail("read back the wrong data");
  }
  /* Generous bounds: in the nested tier (TCG-emulated SVM, one host thread
   * for all of the VM's CPUs) a kick can wait seconds for its turn. */
  if (!wait_for_count(&interrupts, 3, 30000 * MILLION_CYCLES)) guest_fail("fewer MSI-X interrupts than completions");
  serial_print("virtio-pci blk: write, flush, read back ok; MSI-X interrupts ");
  serial_print_dec(interrupts);
  serial_print("\n");
  return 0;
}
