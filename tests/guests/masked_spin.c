/* Never ends, with interrupts disabled and two of them pending: a self-IPI
 * and a periodic LAPIC timer. For the --timeout report, which must show
 * both in IRR next to IF=0 (a masked guest, not a lost interrupt). */
#include "runtime/interrupts.h"

int guest_main(void) {
  idt_init();
  lapic_enable();
  lapic_write(LAPIC_TPR, 0x20);
  disable_interrupts();
  lapic_send_ipi(0, (1u << 18) | 0x50); /* self */
  /* The line goes out before the timer starts: each expiry is an exit, and
   * on a busy nested host those left too little time to print it. */
  serial_print("spinning with interrupts off\n");
  lapic_write(LAPIC_TIMER_DIVIDE, 0xb);
  lapic_write(LAPIC_LVT_TIMER, (1u << 17) | 0x40); /* periodic */
  lapic_write(LAPIC_TIMER_INITIAL, 100000);        /* 100 us */
  for (;;) __asm__ volatile("pause");
}
