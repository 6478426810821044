/* Moving the xAPIC page (Intel SDM Vol. 3A 11.4.5): after IA32_APIC_BASE
 * names 0xfed40000 this CPU's LAPIC answers there, 0xfee00000 reads all-ones
 * for it, IPIs and EOIs work through the new page, and other CPUs' LAPICs
 * stay where they were. Needs the APIC MSRs in userspace, as x2APIC does. */
#include "runtime/smp.h"

#define APIC_BASE 0x1b
#define MOVED 0xfed40000ul

static volatile uintptr_t lapic_page = LAPIC_BASE;
static volatile uint32_t received;

static uint32_t page_read(uintptr_t page, uint32_t reg) { return *(volatile uint32_t*)(page + reg); }
static void page_write(uintptr_t page, uint32_t reg, uint32_t value) { *(volatile uint32_t*)(page + reg) = value; }

static void on_ipi(uint8_t vector) {
  (void)vector;
  received++;
  page_write(lapic_page, LAPIC_EOI, 0);
}

int guest_main(void) {
  if (!(cpuid_1_ecx() & (1u << 21))) return GUEST_NOT_OFFERED;
  idt_init();
  lapic_enable();
  set_handler(0x47, on_ipi);
  set_handler(0x48, count_and_eoi); /* on the APs, whose LAPIC stays at 0xfee00000 */
  const uint32_t aps = cpu_count() > 1 ? start_aps(0) : 0;

  const uint64_t base = rdmsr(APIC_BASE);
  wrmsr(APIC_BASE, MOVED | (base & 0xfff));
  lapic_page = MOVED;
  expect_equal("IA32_APIC_BASE after the move", rdmsr(APIC_BASE), MOVED | (base & 0xfff));
  expect_equal("version register at the new base", page_read(MOVED, LAPIC_VERSION) & 0xff, 0x14);
  expect_equal("version register at 0xfee00000 after the move", page_read(LAPIC_BASE, LAPIC_VERSION), 0xffffffff);

  enable_interrupts();
  page_write(MOVED, LAPIC_ICR_HIGH, 0);
  page_write(MOVED, LAPIC_ICR_LOW, (1u << 18) | 0x47); /* self */
  if (!wait_for_count(&received, 1, 10000 * MILLION_CYCLES)) guest_fail("self IPI through the moved page never arrived");
  page_write(MOVED, LAPIC_ICR_LOW, (1u << 18) | 0x47);
  if (!wait_for_count(&received, 2, 10000 * MILLION_CYCLES)) guest_fail("EOI through the moved page did not retire the first IPI");
  if (aps > 0) {
    page_write(MOVED, LAPIC_ICR_HIGH, 1u << 24);
    page_write(MOVED, LAPIC_ICR_LOW, 0x48);
    if (!wait_for_count(&interrupt_count[0x48], 1, 10000 * MILLION_CYCLES)) guest_fail("AP 1, its LAPIC unmoved, missed the IPI");
  }

  disable_interrupts();
  wrmsr(APIC_BASE, base);
  lapic_page = LAPIC_BASE;
  expect_equal("version register back at 0xfee00000", lapic_read(LAPIC_VERSION) & 0xff, 0x14);
  expect_equal("the old page after moving back", page_read(MOVED, LAPIC_VERSION), 0xffffffff);
  serial_print("apic relocate: the page follows IA32_APIC_BASE, per CPU ok\n");
  return 0;
}
