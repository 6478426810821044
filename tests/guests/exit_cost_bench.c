/* Benchmark guest: the cost of one port-I/O exit, `out` to port 0x80 (the
 * POST-code port, whose device does nothing). Each sample times a batch of
 * 100 outs; the program prints the median per-out cost over 500 samples in
 * TSC cycles. bench/raw_exit_loop runs the same program on a bare KVM exit
 * loop for comparison (bench/exit_cost.sh). */
#include "runtime/interrupts.h"

#define BATCH   100
#define SAMPLES 500
static uint64_t samples[SAMPLES];

int guest_main(void) {
  for (int sample = -20; sample < SAMPLES; sample++) { /* 20 warm-up batches */
    const uint64_t start = rdtsc();
    for (int i = 0; i < BATCH; i++) outb(0x80, 0);
    const uint64_t end = rdtsc();
    if (sample >= 0) samples[sample] = (end - start) / BATCH;
  }
  serial_print("port I/O exit median tsc cycles: ");
  serial_print_dec(median_u64(samples, SAMPLES));
  serial_print("\n");
  return 0;
}
