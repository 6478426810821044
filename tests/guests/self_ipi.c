/* IPIs a CPU sends itself: by the self shorthand, by its own APIC ID, and by
 * the all-including-self shorthand. */
#include "runtime/interrupts.h"

#define received (&interrupt_count[0x50])

int guest_main(void) {
  idt_init();
  lapic_enable();
  for (uint8_t v = 0x50; v < 0x53; v++) set_handler(v, count_and_eoi);
  enable_interrupts();
  lapic_send_ipi(0, (1u << 18) | 0x50);          /* self shorthand */
  lapic_send_ipi(lapic_id(), 0x51);               /* physical, own ID */
  if (cpu_count() == 1) lapic_send_ipi(0, (2u << 18) | 0x52); /* all including self: only us */
  else received[2] = 1;
  for (int i = 0; i < 3; i++) {
    if (!wait_for_count(&received[i], 1, 10000 * MILLION_CYCLES)) guest_fail("a self-IPI never arrived");
  }
  spin(20 * MILLION_CYCLES);
  if (received[0] != 1 || received[1] != 1 || received[2] != 1) guest_fail("a self-IPI arrived more than once");
  serial_print("self IPIs ok\n");
  return 0;
}
