/* Every AP floods the BSP with IPIs without waiting (with one CPU, the BSP
 * floods itself). Posts of a pending vector coalesce, so the BSP sees
 * between 1 and all of them; afterwards each AP's own vector must still
 * arrive exactly once: the storm broke nothing. */
#include "runtime/smp.h"

#define STORM_VECTOR 0x60
#define DONE_VECTOR  0x70
/* Enough to keep a vector pending while more posts of it arrive (so they
 * coalesce), few enough that the nested tier, at ~110 us an exit, runs the
 * storm in seconds, not minutes. */
#define PER_SENDER   5000

static volatile uint32_t storm_received, done_received[16], senders_done;

static void on_storm(uint8_t vector) {
  (void)vector;
  storm_received++;
  lapic_eoi();
}

static void on_done(uint8_t vector) {
  done_received[vector - DONE_VECTOR]++;
  lapic_eoi();
}

static void storm(uint32_t me) {
  for (int i = 0; i < PER_SENDER; i++) lapic_send_ipi(0, STORM_VECTOR);
  lapic_send_ipi(0, DONE_VECTOR + me);
  __atomic_add_fetch(&senders_done, 1, __ATOMIC_SEQ_CST);
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(STORM_VECTOR, on_storm);
  for (uint8_t v = DONE_VECTOR; v < DONE_VECTOR + 16; v++) set_handler(v, on_done);
  enable_interrupts();
  const uint32_t count = cpu_count();
  const uint32_t senders = count == 1 ? 1 : count - 1;
  if (count == 1) storm(0);
  else if (start_aps(storm) != count - 1) guest_fail("not every AP came online");
  /* A bound for a hang, not a speed limit: each IPI is an exit, and in the
   * nested tier on a busy host 3 x 20000 of them took longer than 60000
   * million cycles, so 3 x 5000 take about a quarter of this bound. */
  if (!wait_for_count(&senders_done, senders, 120000 * MILLION_CYCLES)) guest_fail("a sender never finished");
  spin(20 * MILLION_CYCLES);
  if (storm_received == 0 || storm_received > senders * PER_SENDER) guest_fail("storm delivery count out of range");
  for (uint32_t id = count == 1 ? 0 : 1; id < (count == 1 ? 1 : count); id++) {
    if (done_received[id] != 1) guest_fail("a sender's final IPI was not delivered exactly once");
  }
  serial_print("ipi storm: ");
  serial_print_dec(senders * PER_SENDER);
  serial_print(" sent, ");
  serial_print_dec(storm_received);
  serial_print(" delivered after coalescing, guest alive\n");
  return 0;
}
