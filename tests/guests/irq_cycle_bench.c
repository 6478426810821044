/* Benchmark guest: the full interrupt cycle through a real device. Each
 * round raises the UART's THR-empty interrupt (IRQ 4, edge, through the
 * IOAPIC to the LAPIC), halts, and lets the handler read IIR and EOI.
 * Prints the median round in TSC cycles. bench/raw_exit_loop runs the same
 * program on a bare KVM exit loop for comparison. */
#include "runtime/interrupts.h"

#define VECTOR 0x44
#define ROUNDS 1000
static volatile uint32_t handled;
static uint64_t samples[ROUNDS];

static void on_uart(uint8_t vector) {
  (void)vector;
  (void)inb(GUEST_COM1 + 2); /* IIR read: clears THR-empty */
  lapic_eoi();
  handled++;
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(VECTOR, on_uart);
  ioapic_write(0x10 + 2 * 4 + 1, 0);
  ioapic_write(0x10 + 2 * 4, VECTOR); /* edge, unmasked, APIC 0 */
  for (int round = -50; round < ROUNDS; round++) { /* 50 warm-up rounds */
    const uint32_t before = handled;
    disable_interrupts();
    const uint64_t start = rdtsc();
    outb(GUEST_COM1 + 1, 0x00); /* line low */
    outb(GUEST_COM1 + 1, 0x02); /* rising edge: the device posts */
    while (handled == before) wait_for_interrupt();
    const uint64_t end = rdtsc();
    if (round >= 0) samples[round] = end - start;
  }
  outb(GUEST_COM1 + 1, 0x00);
  serial_print("interrupt cycle median tsc cycles: ");
  serial_print_dec(median_u64(samples, ROUNDS));
  serial_print("\n");
  return 0;
}
