/* A CPU halted with interrupts off still wakes for an NMI (Intel SDM Vol. 2A,
 * HLT). Here the NMI comes later from a device: IOAPIC pin 2 (ISA IRQ 0,
 * the PIT) routed as NMI, the PIT ticking every 10 ms, then `cli; hlt`.
 * ember must wait for it rather than call the guest dead (issue 18, item 7). */
#include "runtime/interrupts.h"

#define PIT_PIN 2

static volatile uint32_t nmis;

static void on_nmi(uint8_t vector) {
  (void)vector;
  nmis++;
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(2, on_nmi);
  ioapic_write(0x10 + 2 * PIT_PIN + 1, 0);          /* to APIC 0 */
  ioapic_write(0x10 + 2 * PIT_PIN, 4u << 8);        /* delivery mode NMI, edge, unmasked */
  outb(0x43, 0x34);                                 /* channel 0, lo/hi, mode 2 */
  outb(0x40, 0x9c);
  outb(0x40, 0x2e);                                 /* 11932 ticks: 10 ms */
  __asm__ volatile("cli; hlt" ::: "memory");
  ioapic_write(0x10 + 2 * PIT_PIN, 1u << 16);       /* masked: no more NMIs */
  if (nmis == 0) guest_fail("hlt ended without the NMI");
  serial_print("nmi wakes a cli; hlt: the PIT's NMI through the IOAPIC ok\n");
  return 0;
}
