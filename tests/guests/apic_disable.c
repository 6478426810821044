/* Global APIC disable and the APIC ID rules (Intel SDM Vol. 3A 11.4.3,
 * 11.12.5.1): clearing IA32_APIC_BASE.EN clears CPUID.1:EDX.APIC and takes
 * the xAPIC page away (reads return all-ones); re-enabling brings the APIC
 * back in its power-up state with its initial APIC ID, whatever software
 * wrote to the ID; x2APIC mode reads the initial ID too, and its xAPIC page
 * is gone as well. Needs the APIC MSRs in userspace, as x2APIC does. */
#include "runtime/interrupts.h"

#define APIC_BASE 0x1b
#define APIC_ENABLE (1ull << 11)
#define X2APIC_ENABLE (1ull << 10)
#define CPUID_APIC (1u << 9)

int guest_main(void) {
  if (!(cpuid_1_ecx() & (1u << 21))) return GUEST_NOT_OFFERED;
  const uint64_t base = rdmsr(APIC_BASE);
  if (!(cpuid_1_edx() & CPUID_APIC)) guest_fail("CPUID.1:EDX.APIC is clear at boot");

  lapic_write(LAPIC_ID, 7u << 24);
  expect_equal("xAPIC ID after writing 7", lapic_id(), 7);
  wrmsr(APIC_BASE, base & ~APIC_ENABLE);
  expect_equal("CPUID.1:EDX.APIC with the APIC globally disabled", cpuid_1_edx() & CPUID_APIC, 0);
  expect_equal("xAPIC version register with the APIC globally disabled", lapic_read(LAPIC_VERSION), 0xffffffff);
  wrmsr(APIC_BASE, base);
  expect_equal("CPUID.1:EDX.APIC after re-enabling", cpuid_1_edx() & CPUID_APIC, CPUID_APIC);
  expect_equal("xAPIC ID after re-enabling", lapic_id(), 0);
  expect_equal("SVR after re-enabling (power-up state)", lapic_read(LAPIC_SVR), 0xff);

  lapic_write(LAPIC_ID, 7u << 24);
  wrmsr(APIC_BASE, base | X2APIC_ENABLE);
  expect_equal("x2APIC ID after the xAPIC ID was written", rdmsr(0x802), 0);
  expect_equal("xAPIC version register in x2APIC mode", lapic_read(LAPIC_VERSION), 0xffffffff);
  wrmsr(APIC_BASE, base & ~(APIC_ENABLE | X2APIC_ENABLE));
  wrmsr(APIC_BASE, base);
  expect_equal("xAPIC ID back in xAPIC mode", lapic_id(), 0);
  expect_equal("xAPIC version register back in xAPIC mode", lapic_read(LAPIC_VERSION) & 0xff, 0x14);
  serial_print("apic disable: CPUID and MMIO follow IA32_APIC_BASE.EN, initial IDs after re-enable and in x2APIC mode ok\n");
  return 0;
}
