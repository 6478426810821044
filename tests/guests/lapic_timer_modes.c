/* Switching the LAPIC timer between one-shot and periodic keeps the count
 * running (Intel SDM Vol. 3A 11.5.4.1: only a switch into or out of
 * TSC-deadline mode disarms it); the new mode applies when the count reaches
 * zero, and a rewrite of the initial count restarts it. */
#include "runtime/interrupts.h"

#define VECTOR 0x40
#define PERIODIC (1u << 17)
#define received interrupt_count

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(VECTOR, count_and_eoi);
  lapic_write(LAPIC_TIMER_DIVIDE, 0xb); /* divide by 1 */

  /* One-shot, then periodic mid-count. */
  lapic_write(LAPIC_LVT_TIMER, VECTOR);
  lapic_write(LAPIC_TIMER_INITIAL, 0x7fffffff);
  lapic_write(LAPIC_LVT_TIMER, PERIODIC | VECTOR);
  expect_equal("initial count after one-shot -> periodic", lapic_read(LAPIC_TIMER_INITIAL), 0x7fffffff);
  const uint32_t before = lapic_read(LAPIC_TIMER_CURRENT);
  if (before == 0) guest_fail("one-shot -> periodic stopped the count");
  spin(10 * MILLION_CYCLES);
  if (lapic_read(LAPIC_TIMER_CURRENT) >= before) guest_fail("the count does not run after one-shot -> periodic");

  /* A new initial count restarts it: 20 ms periods. */
  lapic_write(LAPIC_TIMER_INITIAL, 20000000);
  if (lapic_read(LAPIC_TIMER_CURRENT) > 20000000) guest_fail("a new initial count did not restart the count");
  enable_interrupts();
  if (!wait_for_count(&received[VECTOR], 2, 20000 * MILLION_CYCLES)) guest_fail("the periodic timer does not fire");

  /* Periodic, then one-shot right after a tick: it fires once more, then stops. */
  const uint32_t ticks = received[VECTOR];
  if (!wait_for_count(&received[VECTOR], ticks + 1, 20000 * MILLION_CYCLES)) guest_fail("the periodic timer stopped");
  disable_interrupts();
  lapic_write(LAPIC_LVT_TIMER, VECTOR);
  expect_equal("initial count after periodic -> one-shot", lapic_read(LAPIC_TIMER_INITIAL), 20000000);
  if (lapic_read(LAPIC_TIMER_CURRENT) == 0) guest_fail("periodic -> one-shot stopped the count");
  /* A tick that landed before the switch waits in IRR and counts too. */
  const uint32_t pending = (lapic_read(LAPIC_IRR + (VECTOR / 32) * 0x10) >> (VECTOR % 32)) & 1;
  const uint32_t expected = received[VECTOR] + pending + 1;
  enable_interrupts();
  if (!wait_for_count(&received[VECTOR], expected, 20000 * MILLION_CYCLES)) guest_fail("one-shot after periodic never fired");
  spin(200 * MILLION_CYCLES);
  expect_equal("interrupts after the one-shot", received[VECTOR], expected);
  expect_equal("current count after the one-shot", lapic_read(LAPIC_TIMER_CURRENT), 0);
  serial_print("lapic timer modes: one-shot <-> periodic keep the count, a new initial count restarts ok\n");
  return 0;
}
