/* Every CPU sends an IPI to every other CPU; each (sender, receiver) pair
 * must be delivered exactly once. The vector names the sender. */
#include "runtime/smp.h"

#define MAX_CPUS 16
#define BASE_VECTOR 0x40

static volatile uint32_t matrix[MAX_CPUS][MAX_CPUS];
static volatile uint32_t finished, all_online;

static void on_ipi(uint8_t vector) {
  __atomic_add_fetch(&matrix[vector - BASE_VECTOR][lapic_id()], 1, __ATOMIC_SEQ_CST);
  lapic_eoi();
}

static void send_to_all_others(uint32_t me) {
  /* A CPU still waiting for its SIPI drops IPIs, as hardware does: start
   * only once every CPU is up. */
  if (!wait_for_count(&all_online, 1, 10000 * MILLION_CYCLES)) guest_fail("never told that all CPUs are online");
  const uint32_t count = cpu_count();
  for (uint32_t target = 0; target < count; target++) {
    if (target == me) continue;
    lapic_send_ipi(target, BASE_VECTOR + me);
    /* Wait until it landed, so the next one cannot coalesce with it. */
    if (!wait_for_count(&matrix[me][target], 1, 10000 * MILLION_CYCLES)) {
      serial_print("lost: from ");
      serial_print_dec(me);
      serial_print(" to ");
      serial_print_dec(target);
      serial_print("\n");
      guest_fail("an IPI between two CPUs was lost");
    }
  }
  __atomic_add_fetch(&finished, 1, __ATOMIC_SEQ_CST);
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  for (uint8_t v = BASE_VECTOR; v < BASE_VECTOR + MAX_CPUS; v++) set_handler(v, on_ipi);
  enable_interrupts();
  const uint32_t count = cpu_count();
  if (start_aps(send_to_all_others) != count - 1) guest_fail("not every AP came online");
  all_online = 1;
  send_to_all_others(0);
  if (!wait_for_count(&finished, count, 10000 * MILLION_CYCLES)) guest_fail("a CPU never finished sending");
  spin(20 * MILLION_CYCLES);
  for (uint32_t s = 0; s < count; s++) {
    for (uint32_t d = 0; d < count; d++) {
      if (matrix[s][d] != (s != d ? 1u : 0u)) guest_fail("an IPI pair was delivered a wrong number of times");
    }
  }
  serial_print("IPIs between all ");
  serial_print_dec(count * (count - 1));
  serial_print(" pairs ok\n");
  return 0;
}
