/* PV EOI done by ember (src/irq/pv_eoi.h; Documentation/virt/kvm/x86/msr.rst,
 * MSR_KVM_PV_EOI_EN): CPUID offers it, the guest names a word, and ember
 * sets its bit 0 when an EOI need not exit. The handlers do what Linux's
 * kvm_guest_apic_eoi_write does: clear the bit if set, else write the EOI
 * register. Each self-IPI of one vector arrives only if ember ended the
 * previous one, so a lost EOI hangs the program. A vector raised behind one
 * in service leaves the offer standing while interrupts stay off: ember
 * sees the EOI at the interrupt window, where the waiting vector goes in
 * (with no window asked for, it would never come). A handler that turns
 * interrupts on before its EOI gets the offer taken back, so its EOI exits
 * and lets the waiting vector in. A vector that TPR holds back, not the
 * one in service, keeps the offer even with interrupts on: the EOI would
 * not let it in. With PV EOI off every EOI writes the register. A level-triggered vector
 * (the UART's IRQ 4 through the IOAPIC) is never offered: its EOI must
 * reach the IOAPIC, whose remote IRR waits for it. */
#include "runtime/interrupts.h"

#define PV_EOI_MSR 0x4b564d04u
#define ROUNDS 100

static volatile uint32_t pv_word __attribute__((aligned(4)));
static volatile uint32_t skipped, written;

static void end_interrupt(void) {
  if (pv_word & 1) {
    pv_word &= ~1u;
    skipped++;
  } else {
    lapic_eoi();
    written++;
  }
}

static void pv_eoi_handler(uint8_t vector) {
  interrupt_count[vector]++;
  end_interrupt();
}

/* 0x65 raises 0x45, which its own service holds back until its EOI. */
static void raise_behind_handler(uint8_t vector) {
  interrupt_count[vector]++;
  lapic_send_ipi(0, (1u << 18) | 0x45);
  if (!(pv_word & 1)) guest_fail("PV EOI taken back while 0x45 waits behind 0x65 with interrupts off");
  end_interrupt();
}

/* 0x67 raises 0x47 behind itself, then turns interrupts on before its EOI,
 * as a handler that nests interrupts does. */
static void nesting_handler(uint8_t vector) {
  interrupt_count[vector]++;
  lapic_send_ipi(0, (1u << 18) | 0x47);
  enable_interrupts();
  const uint64_t start = rdtsc();
  while ((pv_word & 1) && rdtsc() - start < 10000 * MILLION_CYCLES) cpu_relax();
  if (pv_word & 1) guest_fail("PV EOI still offered with interrupts on while 0x47 waits behind 0x67");
  if (interrupt_count[0x47] != 0) guest_fail("0x47 came before 0x67's EOI");
  end_interrupt();
  if (interrupt_count[0x47] != 1) guest_fail("0x47 did not come at 0x67's EOI, with interrupts on");
}

/* 0x69 raises 0x49 while TPR (0x50, set by guest_main) holds class 4
 * back, then turns interrupts on before its EOI: the EOI would not let
 * 0x49 in, so the offer stands. The PPR read is an exit with interrupts
 * on, where ember reviews its offer. */
static void tpr_held_handler(uint8_t vector) {
  interrupt_count[vector]++;
  lapic_send_ipi(0, (1u << 18) | 0x49);
  enable_interrupts();
  cpu_relax();  /* past STI's interrupt shadow, so the exit below is one where ember could inject */
  expect_equal("PPR with 0x69 in service and TPR 0x50", lapic_read(LAPIC_PPR), 0x60);
  if (!(pv_word & 1)) guest_fail("PV EOI taken back with interrupts on, though 0x49 waits behind TPR, not 0x69");
  if (interrupt_count[0x49] != 0) guest_fail("0x49 came while TPR held it back");
  end_interrupt();
}

/* THR-empty on IRQ 4, level-triggered: read IIR to drop the line, then end it. */
static void level_handler(uint8_t vector) {
  if (++interrupt_count[vector] > 1) guest_fail("the UART's level interrupt came again after its line dropped");
  if (pv_word & 1) guest_fail("PV EOI offered for a level-triggered vector, whose EOI the IOAPIC waits for");
  (void)inb(GUEST_COM1 + 2);
  end_interrupt();
}

static uint32_t kvm_features(void) {
  uint32_t eax = 0x40000001, ebx, ecx = 0, edx;
  __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  return eax;
}

int guest_main(void) {
  /* Offered only where the APIC MSRs reach ember, as x2APIC is. */
  if ((kvm_features() & (1u << 6)) == 0) return GUEST_NOT_OFFERED;
  idt_init();
  lapic_enable();
  set_handler(0x40, pv_eoi_handler);
  set_handler(0x45, pv_eoi_handler);
  set_handler(0x65, raise_behind_handler);
  set_handler(0x47, pv_eoi_handler);
  set_handler(0x67, nesting_handler);
  set_handler(0x49, pv_eoi_handler);
  set_handler(0x69, tpr_held_handler);
  wrmsr(PV_EOI_MSR, (uint64_t)(uintptr_t)&pv_word | 1);
  expect_equal("PV EOI MSR", rdmsr(PV_EOI_MSR), (uint64_t)(uintptr_t)&pv_word | 1);
  enable_interrupts();

  for (uint32_t i = 1; i <= ROUNDS; ++i) {
    lapic_send_ipi(0, (1u << 18) | 0x40);
    if (!wait_for_count(&interrupt_count[0x40], i, 10000 * MILLION_CYCLES)) guest_fail("a self-IPI after a PV EOI never came");
  }
  expect_equal("EOIs ended through the PV EOI bit", skipped, ROUNDS);
  expect_equal("ISR after the last PV EOI (vector 0x40's word)", lapic_read(LAPIC_ISR + 0x20), 0);

  const uint32_t written_before = written;
  lapic_send_ipi(0, (1u << 18) | 0x65);
  if (!wait_for_count(&interrupt_count[0x45], 1, 10000 * MILLION_CYCLES)) guest_fail("0x45, raised behind 0x65, never came");
  expect_equal("EOIs written while 0x45 waited behind 0x65", written - written_before, 0);

  lapic_send_ipi(0, (1u << 18) | 0x67);
  if (!wait_for_count(&interrupt_count[0x47], 1, 10000 * MILLION_CYCLES)) guest_fail("0x47, raised behind 0x67, never came");
  expect_equal("EOIs written while 0x47 waited behind 0x67 with interrupts on", written - written_before, 1);

  lapic_write(LAPIC_TPR, 0x50);
  lapic_send_ipi(0, (1u << 18) | 0x69);
  if (!wait_for_count(&interrupt_count[0x69], 1, 10000 * MILLION_CYCLES)) guest_fail("0x69, above TPR, never came");
  const uint64_t held_since = rdtsc();
  while (rdtsc() - held_since < 10 * MILLION_CYCLES) cpu_relax();
  if (interrupt_count[0x49] != 0) guest_fail("0x49 came after 0x69's EOI while TPR still held it back");
  lapic_write(LAPIC_TPR, 0);
  if (!wait_for_count(&interrupt_count[0x49], 1, 10000 * MILLION_CYCLES)) guest_fail("0x49 never came once TPR fell to 0");
  expect_equal("EOIs written while 0x49 waited behind TPR", written - written_before, 1);

  set_handler(0x46, level_handler);
  ioapic_write(0x10 + 2 * 4 + 1, 0u << 24);     /* IRQ 4 to APIC 0 */
  ioapic_write(0x10 + 2 * 4, 0x46 | (1u << 15)); /* level, unmasked */
  outb(GUEST_COM1 + 1, 0x02);                    /* IER: THR empty raises IRQ 4 */
  if (!wait_for_count(&interrupt_count[0x46], 1, 10000 * MILLION_CYCLES)) guest_fail("the UART's level interrupt never came");
  outb(GUEST_COM1 + 1, 0x00);
  ioapic_write(0x10 + 2 * 4, 0x46 | (1u << 15) | (1u << 16)); /* masked again */
  expect_equal("EOIs written for the level-triggered vector", written - written_before, 2);
  expect_equal("remote IRR after its EOI", ioapic_read(0x10 + 2 * 4) & (1u << 14), 0);

  wrmsr(PV_EOI_MSR, 0);
  lapic_send_ipi(0, (1u << 18) | 0x40);
  if (!wait_for_count(&interrupt_count[0x40], ROUNDS + 1, 10000 * MILLION_CYCLES)) guest_fail("a self-IPI with PV EOI off never came");
  expect_equal("EOIs written with PV EOI off", written - written_before, 3);
  serial_print("pv eoi: offered for edge interrupts, ended by ember, kept behind a waiting vector until interrupts are on and behind TPR, never for a level one, off when turned off ok\n");
  return 0;
}
