/* Moving the xAPIC page (Intel SDM Vol. 3A 11.4.5): after IA32_APIC_BASE
 * names 0xfed40000 this CPU's LAPIC answers there, 0xfee00000 reads all-ones
 * for it, IPIs and EOIs work through the new page, and other CPUs' LAPICs
 * stay where they were. A base inside guest RAM is refused with #GP (README:
 * no exit could reach the LAPIC there) and changes nothing. Needs the APIC
 * MSRs in userspace, as x2APIC does. */
#include "runtime/smp.h"

#define APIC_BASE 0x1b
#define MOVED 0xfed40000ul

static volatile uintptr_t lapic_page = LAPIC_BASE;
static volatile uint32_t received;

/* #GP from a refused WRMSR: this gate skips the 2-byte instruction. */
__attribute__((used)) volatile uint32_t gp_faults;
extern char skip_wrmsr_on_gp[];
__asm__(".text\n"
        "skip_wrmsr_on_gp:\n"
        "  add $8, %rsp\n"     /* the error code */
        "  addq $2, (%rsp)\n"  /* RIP past wrmsr */
        "  incl gp_faults(%rip)\n"
        "  iretq\n");

static void install_gp_skip(void) {
  struct __attribute__((packed)) { uint16_t limit; uint64_t base; } idtr;
  __asm__ volatile("sidt %0" : "=m"(idtr));
  volatile uint8_t* gate = (volatile uint8_t*)(uintptr_t)(idtr.base + 13 * 16);
  const uint64_t address = (uint64_t)(uintptr_t)skip_wrmsr_on_gp;
  gate[0] = (uint8_t)address;
  gate[1] = (uint8_t)(address >> 8);
  gate[6] = (uint8_t)(address >> 16);
  gate[7] = (uint8_t)(address >> 24);
  for (int i = 0; i < 4; i++) gate[8 + i] = (uint8_t)(address >> (32 + 8 * i));
}

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
  install_gp_skip();
  wrmsr(APIC_BASE, 0x200000 | (base & 0xfff)); /* 2 MiB: guest RAM */
  expect_equal("#GP for a LAPIC base inside guest RAM", gp_faults, 1);
  expect_equal("IA32_APIC_BASE after the refused move", rdmsr(APIC_BASE), base);
  expect_equal("version register after the refused move", lapic_read(LAPIC_VERSION) & 0xff, 0x14);

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
