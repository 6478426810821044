/* virtio_net_bench.c as a multiboot program: ember (--virtio-transport pci
 * --net tap=...) and QEMU (-M pc, -device virtio-net-pci,disable-legacy=on)
 * run the same guest code (bench/virtio_net.sh). */
#include "virtio_net_bench.c"
