/* Interrupts that arrive during a long interrupts-disabled stretch (a
 * self-IPI and a LAPIC timer expiry) are held, and each is delivered
 * exactly once after sti. */
#include "runtime/interrupts.h"

#define ipi_count interrupt_count[0x50]
#define timer_count interrupt_count[0x40]

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(0x50, count_and_eoi);
  set_handler(0x40, count_and_eoi);
  disable_interrupts();
  lapic_send_ipi(0, (1u << 18) | 0x50);
  lapic_write(LAPIC_TIMER_DIVIDE, 0xb);
  lapic_write(LAPIC_LVT_TIMER, 0x40);
  lapic_write(LAPIC_TIMER_INITIAL, 1000); /* expires almost at once */
  spin(100 * MILLION_CYCLES); /* tens of milliseconds */
  if (ipi_count != 0 || timer_count != 0) guest_fail("an interrupt arrived while IF was clear");
  enable_interrupts();
  if (!wait_for_count(&ipi_count, 1, 10000 * MILLION_CYCLES) || !wait_for_count(&timer_count, 1, 10000 * MILLION_CYCLES)) {
    guest_fail("a held interrupt never arrived after sti");
  }
  spin(20 * MILLION_CYCLES);
  if (ipi_count != 1 || timer_count != 1) guest_fail("a held interrupt arrived more than once");
  serial_print("held interrupts delivered exactly once after sti\n");
  return 0;
}
