/* virtio-blk throughput from inside a guest (bench/virtio_blk.sh): the
 * whole disk read and written sequentially in 64 KiB requests and again in
 * 1 MiB requests (a request's cost on a nested host is mostly its exits,
 * whatever its size), 1 MiB again with VIRTIO_BLK_SLOTS requests in flight
 * (as a kernel keeps several: the guest's next notify overlaps the device's
 * work on the last), then 4 KiB requests at random sectors, each pattern
 * timed in TSC cycles. Built twice: as an ember guest program over
 * virtio-mmio, and as a multiboot program over virtio-pci
 * (multiboot/multiboot_virtio_blk_bench.c) that QEMU runs too. Writes end
 * with a FLUSH inside the timing, so they are durable when counted. The
 * host side (bench/host_disk_io.cpp) does the same on the same file. */
#include "runtime/interrupts.h"
#include "runtime/virtio_blk.h"
#include "runtime/virtio_pci.h"

#define BIG (64 * 1024)
#define HUGE (1024 * 1024)
#define SMALL 4096
#define RANDOM_REQUESTS 4096

static uint8_t ring[4096] __attribute__((aligned(4096)));
static uint8_t buffer[VIRTIO_BLK_SLOTS][HUGE] __attribute__((aligned(4096)));
static struct virtio_device disk;

static void report(const char* name, uint64_t bytes, uint64_t requests, uint64_t cycles) {
  serial_print("bench ");
  serial_print(name);
  serial_print(" bytes=");
  serial_print_dec(bytes);
  serial_print(" requests=");
  serial_print_dec(requests);
  serial_print(" cycles=");
  serial_print_dec(cycles);
  serial_print("\n");
}

static uint64_t next_random(uint64_t* state) {
  *state = *state * 6364136223846793005ull + 1442695040888963407ull;
  return *state >> 33;
}

static void run(const char* name, uint32_t type, uint32_t size, int random, uint64_t sectors) {
  const uint64_t per = size / 512;
  const uint64_t requests = random ? RANDOM_REQUESTS : sectors / per;
  uint64_t state = 12345;
  const uint64_t start = rdtsc();
  for (uint64_t i = 0; i < requests; ++i) {
    const uint64_t sector = random ? (next_random(&state) % (sectors / per)) * per : i * per;
    if (virtio_blk_request(&disk, type, sector, buffer[0], size) != 0) guest_fail("request failed");
  }
  if (type == VIRTIO_BLK_T_OUT && virtio_blk_request(&disk, VIRTIO_BLK_T_FLUSH, 0, 0, 0) != 0) guest_fail("flush failed");
  report(name, requests * size, requests, rdtsc() - start);
}

_Static_assert(VIRTIO_BLK_SLOTS == 2, "the reports below are named _q2");

/* Sequential, with every slot kept busy: slot s always carries buffer s. */
static void run_in_flight(const char* name, uint32_t type, uint32_t size, uint64_t sectors) {
  const uint64_t per = size / 512, requests = sectors / per;
  uint64_t submitted = 0, completed = 0;
  const uint64_t start = rdtsc();
  for (uint16_t slot = 0; slot < VIRTIO_BLK_SLOTS && submitted < requests; ++slot, ++submitted) {
    virtio_blk_submit(&disk, slot, type, submitted * per, buffer[slot], size);
  }
  while (completed < requests) {
    uint16_t slot;
    if (virtio_blk_complete(&disk, &slot) != 0) guest_fail("request failed");
    completed++;
    if (submitted < requests) virtio_blk_submit(&disk, slot, type, submitted++ * per, buffer[slot], size);
  }
  if (type == VIRTIO_BLK_T_OUT && virtio_blk_request(&disk, VIRTIO_BLK_T_FLUSH, 0, 0, 0) != 0) guest_fail("flush failed");
  report(name, requests * size, requests, rdtsc() - start);
}

int guest_main(void) {
#ifdef VIRTIO_BENCH_PCI
  /* Polled: no interrupts (VIRTIO_MSI_NO_VECTOR), as over virtio-mmio. */
  const char* failed = virtio_pci_start(&disk, 2, VIRTIO_BLK_F_FLUSH, ring, 1, 0);
#else
  const char* failed = virtio_start(&disk, VIRTIO_MMIO_SLOT(0), 2, VIRTIO_BLK_F_FLUSH, ring, 1);
#endif
  if (failed) guest_fail(failed);
  const uint64_t sectors = virtio_config32(&disk, 0);
  memset(buffer, 0x5a, sizeof buffer);
  run("seq_read", VIRTIO_BLK_T_IN, BIG, 0, sectors);
  run("seq_write", VIRTIO_BLK_T_OUT, BIG, 0, sectors);
  run("seq_read_1m", VIRTIO_BLK_T_IN, HUGE, 0, sectors);
  run("seq_write_1m", VIRTIO_BLK_T_OUT, HUGE, 0, sectors);
  run_in_flight("seq_read_1m_q2", VIRTIO_BLK_T_IN, HUGE, sectors);
  run_in_flight("seq_write_1m_q2", VIRTIO_BLK_T_OUT, HUGE, sectors);
  run("rand_read", VIRTIO_BLK_T_IN, SMALL, 1, sectors);
  run("rand_write", VIRTIO_BLK_T_OUT, SMALL, 1, sectors);
  return 0;
}
