/* The LAPIC timer in one-shot and periodic modes, and waking a halted CPU. */
#include "runtime/interrupts.h"

#define TIMER_VECTOR 0x40
#define ONE_SHOT     0
#define PERIODIC     (1u << 17)
#define MASKED       (1u << 16)

#define ticks interrupt_count[TIMER_VECTOR]

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(TIMER_VECTOR, count_and_eoi);
  lapic_write(LAPIC_TIMER_DIVIDE, 0xb); /* divide by 1 */
  enable_interrupts();

  /* One-shot: fires once, then the current count stays at 0. */
  lapic_write(LAPIC_LVT_TIMER, ONE_SHOT | TIMER_VECTOR);
  lapic_write(LAPIC_TIMER_INITIAL, 1000000);
  if (!wait_for_count(&ticks, 1, 10000 * MILLION_CYCLES)) guest_fail("one-shot timer never fired");
  spin(20 * MILLION_CYCLES);
  if (ticks != 1) guest_fail("one-shot timer fired more than once");
  if (lapic_read(LAPIC_TIMER_CURRENT) != 0) guest_fail("one-shot current count is not 0 after expiry");

  /* Periodic: keeps firing until masked. */
  ticks = 0;
  lapic_write(LAPIC_LVT_TIMER, PERIODIC | TIMER_VECTOR);
  lapic_write(LAPIC_TIMER_INITIAL, 500000);
  if (!wait_for_count(&ticks, 5, 10000 * MILLION_CYCLES)) guest_fail("periodic timer stopped before 5 ticks");
  lapic_write(LAPIC_LVT_TIMER, MASKED | PERIODIC | TIMER_VECTOR);
  const uint32_t at_mask = ticks;
  spin(20 * MILLION_CYCLES);
  if (ticks > at_mask + 1) guest_fail("masked periodic timer kept interrupting");
  lapic_write(LAPIC_TIMER_INITIAL, 0);

  /* A halted CPU wakes for its timer. */
  ticks = 0;
  lapic_write(LAPIC_LVT_TIMER, ONE_SHOT | TIMER_VECTOR);
  lapic_write(LAPIC_TIMER_INITIAL, 2000000);
  while (ticks == 0) wait_for_interrupt();

  serial_print("lapic timer: one-shot, periodic and wake from hlt ok\n");
  return 0;
}
