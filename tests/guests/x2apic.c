/* x2APIC mode through MSRs (Intel SDM Vol. 3A 11.12): the switch through
 * IA32_APIC_BASE, the 32-bit ID and derived LDR, SELF IPI, a 64-bit ICR
 * write, EOI by MSR, and the periodic timer programmed by MSR. */
#include "runtime/interrupts.h"

#define APIC_BASE 0x1b
#define X2APIC(offset) (0x800 + ((offset) >> 4))

static volatile uint32_t received[256];

static void on_interrupt(uint8_t vector) {
  received[vector]++;
  wrmsr(X2APIC(LAPIC_EOI), 0);
}

int guest_main(void) {
  if (!(cpuid_1_ecx() & (1u << 21))) return GUEST_NOT_OFFERED;
  idt_init();
  for (int v = 0x40; v < 0x60; v++) set_handler((uint8_t)v, on_interrupt);

  const uint64_t base = rdmsr(APIC_BASE);
  if ((base & 0xfffff000) != 0xfee00000 || !(base & (1u << 11))) guest_fail("APIC base is not 0xfee00000, enabled");
  if (base & (1u << 10)) guest_fail("x2APIC mode on before the guest asked for it");
  wrmsr(APIC_BASE, base | (1u << 10));
  if (!(rdmsr(APIC_BASE) & (1u << 10))) guest_fail("x2APIC mode did not stick");

  if (rdmsr(X2APIC(LAPIC_ID)) != 0) guest_fail("BSP x2APIC ID is not 0");
  if (rdmsr(X2APIC(LAPIC_LDR)) != 1) guest_fail("x2APIC LDR of APIC 0 is not cluster 0, bit 0");
  wrmsr(X2APIC(LAPIC_SVR), 0x1ff);
  enable_interrupts();

  wrmsr(0x83f, 0x51); /* SELF IPI */
  if (!wait_for_count(&received[0x51], 1, 10000 * MILLION_CYCLES)) guest_fail("SELF IPI never arrived");
  wrmsr(X2APIC(LAPIC_ICR_LOW), (0ull << 32) | 0x52); /* 64-bit ICR: fixed, physical, APIC 0 */
  if (!wait_for_count(&received[0x52], 1, 10000 * MILLION_CYCLES)) guest_fail("ICR IPI never arrived");

  wrmsr(X2APIC(LAPIC_TIMER_DIVIDE), 0xb);
  wrmsr(X2APIC(LAPIC_LVT_TIMER), (1u << 17) | 0x40);
  wrmsr(X2APIC(LAPIC_TIMER_INITIAL), 500000);
  if (!wait_for_count(&received[0x40], 3, 10000 * MILLION_CYCLES)) guest_fail("x2APIC periodic timer stopped");
  wrmsr(X2APIC(LAPIC_TIMER_INITIAL), 0);
  spin(20 * MILLION_CYCLES);
  if (received[0x51] != 1 || received[0x52] != 1) guest_fail("an IPI arrived twice");
  serial_print("x2apic: mode switch, ID, LDR, SELF IPI, ICR IPI, EOI and timer by MSR ok\n");
  return 0;
}
