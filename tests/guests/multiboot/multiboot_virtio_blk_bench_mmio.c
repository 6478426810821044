/* virtio_blk_bench.c as a multiboot program over virtio-mmio: the same boot
 * path and page tables as multiboot_virtio_blk_bench.c with the other
 * transport, to tell a transport's cost from a boot path's (bench/README.md,
 * "ember over PCI and over MMIO"). */
#include "virtio_blk_bench.c"
