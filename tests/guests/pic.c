/* The 8259 pair in virtual-wire mode: initialised as Linux does, the PIT's
 * IRQ 0 reaches the CPU through the master PIC and the LAPIC's LINT0 in
 * ExtINT mode; the PIC supplies the vector, EOI goes to the PIC, and
 * masking IRQ 0 stops it. */
#include "runtime/interrupts.h"

#define LAPIC_LVT_LINT0 0x350
static volatile uint32_t ticks;

static void on_irq0(uint8_t vector) {
  (void)vector;
  ticks++;
  outb(0x20, 0x20); /* non-specific EOI to the master; no LAPIC EOI for ExtINT */
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(0x20, on_irq0);
  outb(0x20, 0x11); outb(0x21, 0x20); outb(0x21, 0x04); outb(0x21, 0x01);
  outb(0xa0, 0x11); outb(0xa1, 0x28); outb(0xa1, 0x02); outb(0xa1, 0x01);
  outb(0x21, 0xfb);
  if (inb(0x21) != 0xfb) guest_fail("the master IMR does not read back (Linux's probe would fail)");
  outb(0xa1, 0xff);
  outb(0x21, 0xfe); /* only IRQ 0 */
  lapic_write(LAPIC_LVT_LINT0, 0x700); /* ExtINT, unmasked */
  enable_interrupts();

  outb(0x43, 0x34);
  outb(0x40, 0xa9);
  outb(0x40, 0x04); /* 1 ms */
  if (!wait_for_count(&ticks, 5, 10000 * MILLION_CYCLES)) guest_fail("IRQ 0 did not arrive through the PIC");
  outb(0x21, 0xff);
  const uint32_t at_mask = ticks;
  spin(60 * MILLION_CYCLES);
  if (ticks > at_mask + 1) guest_fail("masking IRQ 0 at the PIC did not stop it");
  outb(0x20, 0x0b);
  if (inb(0x20) != 0) guest_fail("the master ISR is not clear after EOI");
  outb(0x43, 0x30); /* stop channel 0 */
  serial_print("pic: IRQ 0 through the 8259 and LINT0 ExtINT, EOI and mask ok\n");
  return 0;
}
