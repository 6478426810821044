/* QEMU's pc-testdev under `--test-device` (QEMU hw/misc/pc-testdev.c): the
 * scratch register at 0xe0 (any width) and 0xe8 (bytes), the flush port,
 * 64 KiB of scratch MMIO at 0xff000000, and interrupt lines driven through
 * ports 0x2000 + N: IOAPIC pin 10 edge-triggered (one delivery per rising
 * edge) and pin 11 level-triggered (delivered again while still high at EOI). */
#include "runtime/interrupts.h"

#define IRQ_LINE(n) ((uint16_t)(0x2000 + (n)))
#define EDGE_PIN 10
#define LEVEL_PIN 11
#define EDGE_VECTOR 0x50
#define LEVEL_VECTOR 0x51

static volatile uint32_t level_deliveries;

static void on_level(uint8_t vector) {
  (void)vector;
  if (++level_deliveries >= 2) outb(IRQ_LINE(LEVEL_PIN), 0);
  lapic_eoi();
}

int guest_main(void) {
  outl(0xe0, 0x12345678);
  expect_equal("scratch register", inl(0xe0), 0x12345678);
  outb(0xe9, 0xab);
  expect_equal("scratch register after a byte at 0xe9", inl(0xe0), 0x1234ab78);
  expect_equal("byte view at 0xea", inb(0xea), 0x34);
  outl(0xe4, 0x100000); /* flush page: accepted */

  volatile uint32_t* iomem = (volatile uint32_t*)0xff000000ul;
  iomem[0] = 0xdeadbeef;
  iomem[0x3fff] = 0xcafef00d;
  expect_equal("iomem first word", iomem[0], 0xdeadbeef);
  expect_equal("iomem last word", iomem[0x3fff], 0xcafef00d);

  idt_init();
  lapic_enable();
  set_handler(EDGE_VECTOR, count_and_eoi);
  set_handler(LEVEL_VECTOR, on_level);
  ioapic_write(0x10 + 2 * EDGE_PIN + 1, 0);
  ioapic_write(0x10 + 2 * EDGE_PIN, EDGE_VECTOR);
  ioapic_write(0x10 + 2 * LEVEL_PIN + 1, 0);
  ioapic_write(0x10 + 2 * LEVEL_PIN, LEVEL_VECTOR | (1u << 15));
  enable_interrupts();

  volatile uint32_t* edge = &interrupt_count[EDGE_VECTOR];
  outb(IRQ_LINE(EDGE_PIN), 1);
  if (!wait_for_count(edge, 1, 10000 * MILLION_CYCLES)) guest_fail("raising the edge line delivered nothing");
  outb(IRQ_LINE(EDGE_PIN), 1);
  spin(20 * MILLION_CYCLES);
  expect_equal("edge deliveries with the line held high", *edge, 1);
  outb(IRQ_LINE(EDGE_PIN), 0);
  outb(IRQ_LINE(EDGE_PIN), 1);
  if (!wait_for_count(edge, 2, 10000 * MILLION_CYCLES)) guest_fail("a second rising edge delivered nothing");
  outb(IRQ_LINE(EDGE_PIN), 0);

  outb(IRQ_LINE(LEVEL_PIN), 1);
  if (!wait_for_count(&level_deliveries, 2, 10000 * MILLION_CYCLES)) guest_fail("the level line was not delivered again after EOI");
  spin(20 * MILLION_CYCLES);
  expect_equal("level deliveries", level_deliveries, 2);
  expect_equal("level pin's remote IRR after the last EOI", (ioapic_read(0x10 + 2 * LEVEL_PIN) >> 14) & 1, 0);
  expect_equal("edge deliveries", *edge, 2);
  serial_print("pc-testdev: scratch ports, iomem, IRQ lines edge and level through the IOAPIC ok\n");
  return 0;
}
