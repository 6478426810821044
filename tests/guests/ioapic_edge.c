/* An edge-triggered IOAPIC pin (the UART's IRQ 4): one delivery per rising
 * edge, none for a line that merely stays high. */
#include "runtime/interrupts.h"

#define VECTOR 0x45
static volatile uint32_t deliveries;

static void on_uart(uint8_t vector) {
  (void)vector;
  deliveries++;
  lapic_eoi(); /* leaves the UART's interrupt pending: the line stays high */
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(VECTOR, on_uart);
  ioapic_write(0x10 + 2 * 4 + 1, 0u << 24);
  ioapic_write(0x10 + 2 * 4, VECTOR); /* edge, unmasked */
  enable_interrupts();
  outb(GUEST_COM1 + 1, 0x02); /* rising edge */
  if (!wait_for_count(&deliveries, 1, 10000 * MILLION_CYCLES)) guest_fail("the edge interrupt never arrived");
  spin(20 * MILLION_CYCLES);
  if (deliveries != 1) guest_fail("a line that stayed high was delivered again");
  outb(GUEST_COM1 + 1, 0x00); /* line falls */
  outb(GUEST_COM1 + 1, 0x02); /* and rises again */
  if (!wait_for_count(&deliveries, 2, 10000 * MILLION_CYCLES)) guest_fail("the second edge was lost");
  spin(20 * MILLION_CYCLES);
  const uint32_t seen = deliveries;
  outb(GUEST_COM1 + 1, 0x00);
  if (seen != 2) guest_fail("wrong number of edge deliveries");
  serial_print("ioapic edge: one delivery per rising edge ok\n");
  return 0;
}
