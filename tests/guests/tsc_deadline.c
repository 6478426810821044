/* The LAPIC timer in TSC-deadline mode (Intel SDM Vol. 3A 11.5.4.1): a
 * deadline fires once and then reads as 0, a deadline already past fires at
 * once, writing 0 disarms, and a halted CPU wakes at its deadline. */
#include "runtime/interrupts.h"

#define TSC_DEADLINE 0x6e0
#define TIMER_VECTOR 0x40
#define ticks interrupt_count[TIMER_VECTOR]

int guest_main(void) {
  if (!(cpuid_1_ecx() & (1u << 24))) return GUEST_NOT_OFFERED;
  idt_init();
  lapic_enable();
  set_handler(TIMER_VECTOR, count_and_eoi);
  lapic_write(LAPIC_LVT_TIMER, (2u << 17) | TIMER_VECTOR);
  enable_interrupts();

  wrmsr(TSC_DEADLINE, rdtsc() + 10 * MILLION_CYCLES);
  if (!wait_for_count(&ticks, 1, 10000 * MILLION_CYCLES)) guest_fail("the deadline never fired");
  if (rdmsr(TSC_DEADLINE) != 0) guest_fail("IA32_TSC_DEADLINE does not read 0 after firing");

  wrmsr(TSC_DEADLINE, 1); /* long past */
  if (!wait_for_count(&ticks, 2, 10000 * MILLION_CYCLES)) guest_fail("a past deadline did not fire at once");

  wrmsr(TSC_DEADLINE, rdtsc() + 20 * MILLION_CYCLES);
  wrmsr(TSC_DEADLINE, 0);
  spin(60 * MILLION_CYCLES);
  if (ticks != 2) guest_fail("writing 0 did not disarm the deadline");

  wrmsr(TSC_DEADLINE, rdtsc() + 20 * MILLION_CYCLES);
  while (ticks == 2) wait_for_interrupt();
  spin(20 * MILLION_CYCLES);
  if (ticks != 3) guest_fail("a deadline fired more than once");
  serial_print("tsc-deadline: fires once, reads 0 after, past deadline at once, 0 disarms, wakes hlt ok\n");
  return 0;
}
