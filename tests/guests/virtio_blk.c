/* virtio-blk through virtio-mmio with a minimal driver: capacity, GET_ID,
 * write + FLUSH + read back, a read past the end, an unknown request, and
 * the level interrupt on IOAPIC pin 16 acknowledged through InterruptACK.
 * With readonly=1 on the command line it expects a read-only disk whose
 * writes fail. The host checks the file afterwards (kvm tier). The image's
 * sector k starts out filled with the byte k. */
#include "runtime/interrupts.h"
#include "runtime/virtio_blk.h"

#define VECTOR 0x50
#define PIN 16

static uint8_t ring[4096] __attribute__((aligned(4096)));
static uint8_t buffer[4 * 512] __attribute__((aligned(512)));
static struct virtio_device disk;
static volatile uint32_t interrupts;

static void on_virtio(uint8_t vector) {
  (void)vector;
  const uint32_t pending = virtio_read(&disk, 0x060);
  virtio_write(&disk, 0x064, pending); /* InterruptACK lowers the line before the EOI */
  if (pending & 1) interrupts++;
  lapic_eoi();
}

static void expect_status(int got, int wanted, const char* what) {
  if (got == wanted) return;
  serial_print("request ");
  serial_print(what);
  serial_print(": status ");
  serial_print_dec((uint64_t)(int64_t)got);
  serial_print("\n");
  guest_fail("unexpected virtio-blk status");
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(VECTOR, on_virtio);
  ioapic_write(0x10 + 2 * PIN + 1, 0u << 24);
  ioapic_write(0x10 + 2 * PIN, VECTOR | (1u << 15)); /* level, active high, unmasked */
  enable_interrupts();

  const char* failed = virtio_start(&disk, VIRTIO_MMIO_SLOT(0), 2, VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_RO, ring, 1);
  if (failed) guest_fail(failed);
  const uint64_t sectors = virtio_config32(&disk, 0) | ((uint64_t)virtio_config32(&disk, 4) << 32);
  if (sectors != cmdline_number("sectors", 0)) guest_fail("capacity differs from the image size");
  const int read_only = cmdline_number("readonly", 0) != 0;
  if (!!(disk.features & VIRTIO_BLK_F_RO) != read_only) guest_fail("VIRTIO_BLK_F_RO does not match the disk");

  char id[21] = {0};
  expect_status(virtio_blk_request(&disk, VIRTIO_BLK_T_GET_ID, 0, id, 20), 0, "GET_ID");
  if (id[0] == 0) guest_fail("GET_ID returned an empty serial");

  /* Write sectors 1-3 with 0xA0 + sector, flush, read 0-3 back. */
  for (int s = 1; s <= 3; ++s) memset(buffer + 512 * (s - 1), 0xA0 + s, 512);
  expect_status(virtio_blk_request(&disk, VIRTIO_BLK_T_OUT, 1, buffer, 3 * 512), read_only ? 1 : 0, "write");
  expect_status(virtio_blk_request(&disk, VIRTIO_BLK_T_FLUSH, 0, 0, 0), 0, "flush");
  memset(buffer, 0x55, sizeof buffer);
  expect_status(virtio_blk_request(&disk, VIRTIO_BLK_T_IN, 0, buffer, 4 * 512), 0, "read");
  for (int s = 0; s < 4; ++s) {
    const uint8_t wanted = (uint8_t)(s == 0 || read_only ? s : 0xA0 + s);
    if (buffer[512 * s] != wanted || buffer[512 * s + 511] != wanted) guest_fail("read back the wrong data");
  }

  expect_status(virtio_blk_request(&disk, VIRTIO_BLK_T_IN, sectors - 1, buffer, 2 * 512), 1, "read past the end");
  expect_status(virtio_blk_request(&disk, 99, 0, 0, 0), 2, "unknown type");

  /* Every completion raised the line; the handler acknowledged each. */
  if (!wait_for_count(&interrupts, 1, 10000 * MILLION_CYCLES)) guest_fail("no used-buffer interrupt arrived");
  spin(10 * MILLION_CYCLES);
  if (virtio_read(&disk, 0x060) != 0) guest_fail("InterruptStatus still set after InterruptACK");
  if (ioapic_read(0x10 + 2 * PIN) & (1u << 14)) guest_fail("remote IRR still set after EOI");

  serial_print(read_only ? "virtio-blk read-only: " : "virtio-blk: ");
  serial_print("GET_ID ");
  serial_print(id);
  serial_print(", write, flush, read back, past-the-end and unknown requests, level interrupt ok\n");
  return 0;
}
