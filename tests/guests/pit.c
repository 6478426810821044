/* The 8254 PIT: channel 0 raises IRQ 0 (IOAPIC pin 2, as the MP table says)
 * periodically in mode 2 and once in mode 0; channel 2, gated through port
 * 0x61, counts down and raises its output at terminal count; a latched
 * count reads consistently. */
#include "runtime/interrupts.h"

#define VECTOR 0x30
static volatile uint32_t ticks;

static void on_irq0(uint8_t vector) {
  (void)vector;
  ticks++;
  lapic_eoi();
}

static uint16_t read_latched(uint16_t port, uint8_t latch_command) {
  outb(0x43, latch_command);
  const uint8_t low = inb(port);
  return (uint16_t)(low | (inb(port) << 8));
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(VECTOR, on_irq0);
  ioapic_write(0x10 + 2 * 2 + 1, 0);
  ioapic_write(0x10 + 2 * 2, VECTOR); /* pin 2: edge, unmasked, APIC 0 */
  enable_interrupts();

  outb(0x43, 0x34); /* channel 0, lo/hi, mode 2 (rate generator) */
  outb(0x40, 0xa9);
  outb(0x40, 0x04); /* 1193 ticks: 1 ms */
  if (!wait_for_count(&ticks, 5, 10000 * MILLION_CYCLES)) guest_fail("channel 0 mode 2 did not keep interrupting");

  outb(0x43, 0x30); /* mode 0: stops the rate generator until a count arrives */
  const uint32_t before = ticks;
  outb(0x40, 0xa9);
  outb(0x40, 0x04);
  if (!wait_for_count(&ticks, before + 1, 10000 * MILLION_CYCLES)) guest_fail("channel 0 mode 0 never reached terminal count");
  spin(60 * MILLION_CYCLES);
  if (ticks > before + 2) guest_fail("channel 0 mode 0 interrupted more than once");

  outb(0x61, (uint8_t)((inb(0x61) & ~0x02) | 0x01)); /* channel 2 gate on, speaker off */
  outb(0x43, 0xb0); /* channel 2, lo/hi, mode 0 */
  outb(0x42, 0x9c);
  outb(0x42, 0x2e); /* 11932 ticks: 10 ms */
  if (inb(0x61) & 0x20) guest_fail("channel 2 output high before terminal count");
  const uint16_t first = read_latched(0x42, 0x80);
  const uint16_t second = read_latched(0x42, 0x80);
  if (first > 11932 || second > first) guest_fail("channel 2 latched counts do not count down");
  const uint64_t start = rdtsc();
  while (!(inb(0x61) & 0x20)) {
    if (rdtsc() - start > 10000 * MILLION_CYCLES) guest_fail("channel 2 output never went high");
  }
  serial_print("pit: channel 0 modes 2 and 0 on IRQ 0, channel 2 via port 0x61 ok\n");
  return 0;
}
