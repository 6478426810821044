/* A level-triggered IOAPIC pin (the UART's IRQ 4, raised by its THR-empty
 * interrupt): remote IRR holds it until EOI, and a line still asserted at
 * EOI is delivered again. The handler clears the UART's interrupt only the
 * second time, so exactly two deliveries must happen. */
#include "runtime/interrupts.h"

#define VECTOR 0x44
static volatile uint32_t deliveries;

static void on_uart(uint8_t vector) {
  (void)vector;
  if (++deliveries >= 2) (void)inb(GUEST_COM1 + 2); /* reading IIR clears THR-empty */
  lapic_eoi();
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(VECTOR, on_uart);
  ioapic_write(0x10 + 2 * 4 + 1, 0u << 24);       /* to APIC 0 */
  ioapic_write(0x10 + 2 * 4, VECTOR | (1u << 15)); /* level, unmasked */
  enable_interrupts();
  outb(GUEST_COM1 + 1, 0x02); /* IER: THR empty -> the UART raises IRQ 4 */
  if (!wait_for_count(&deliveries, 2, 10000 * MILLION_CYCLES)) guest_fail("the level interrupt was not delivered again after EOI");
  spin(20 * MILLION_CYCLES);
  const uint32_t seen = deliveries;
  const uint32_t entry = ioapic_read(0x10 + 2 * 4);
  outb(GUEST_COM1 + 1, 0x00); /* quiet the UART before printing */
  if (seen != 2) guest_fail("the level interrupt was delivered more than twice");
  if (entry & (1u << 14)) guest_fail("remote IRR still set after the final EOI");
  serial_print("ioapic level: delivered, held by remote IRR, re-delivered after EOI ok\n");
  return 0;
}
