/* The data-integrity workload of tests/HOSTILE-INPUTS.md: writes sector i filled with
 * the 64-bit number i, FLUSHes, and only then prints "flushed i". The host
 * SIGKILLs ember somewhere in the middle and checks that every sector whose
 * flush was reported holds its number. */
#include "runtime/interrupts.h"
#include "runtime/virtio_blk.h"

static uint8_t ring[4096] __attribute__((aligned(4096)));
static uint64_t block[64] __attribute__((aligned(512)));
static struct virtio_device disk;

int guest_main(void) {
  const char* failed = virtio_start(&disk, VIRTIO_MMIO_SLOT(0), 2, VIRTIO_BLK_F_FLUSH, ring, 1);
  if (failed) guest_fail(failed);
  if (!(disk.features & VIRTIO_BLK_F_FLUSH)) guest_fail("the disk does not offer FLUSH");
  const uint64_t sectors = virtio_config32(&disk, 0);
  for (uint64_t i = 0; i < sectors; ++i) {
    for (int w = 0; w < 64; ++w) block[w] = i;
    if (virtio_blk_request(&disk, VIRTIO_BLK_T_OUT, i, block, 512) != 0) guest_fail("write failed");
    if (virtio_blk_request(&disk, VIRTIO_BLK_T_FLUSH, 0, 0, 0) != 0) guest_fail("flush failed");
    serial_print("flushed ");
    serial_print_dec(i);
    serial_print("\n");
  }
  return 0;
}
