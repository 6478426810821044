/* virtio_blk_bench.c as a multiboot program over virtio-pci, so that ember
 * (--virtio-transport pci) and QEMU (-M pc, -device
 * virtio-blk-pci,disable-legacy=on) run the same guest code on the same
 * image (bench/virtio_blk.sh). */
#define VIRTIO_BENCH_PCI 1
#include "virtio_blk_bench.c"
