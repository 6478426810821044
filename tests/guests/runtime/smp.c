#include "smp.h"

#define TRAMPOLINE_BASE 0x30000
#define SIPI_VECTOR     (TRAMPOLINE_BASE >> 12)

extern char trampoline_start[], trampoline_end[];
extern uint16_t trampoline_gdt_limit;
extern uint32_t trampoline_gdt_base, trampoline_cr3;
volatile uint32_t aps_online;
static void (*volatile ap_work)(uint32_t);

void ap_main(uint32_t apic_id) {
  idt_load();
  lapic_enable();
  __atomic_add_fetch(&aps_online, 1, __ATOMIC_SEQ_CST);
  enable_interrupts(); /* the trampoline ran with IF clear; work may wait for IPIs */
  if (ap_work) ap_work(apic_id);
  for (;;) wait_for_interrupt();
}

uint32_t start_aps(void (*work)(uint32_t apic_id)) { return start_cpus(cpu_count(), work); }

uint32_t start_cpus(uint32_t count, void (*work)(uint32_t apic_id)) {
  /* The APs use this CPU's GDT and page tables, both below 4 GiB. */
  struct __attribute__((packed)) { uint16_t limit; uint64_t base; } gdtr;
  uint64_t cr3;
  __asm__ volatile("sgdt %0" : "=m"(gdtr));
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  trampoline_gdt_limit = gdtr.limit;
  trampoline_gdt_base = (uint32_t)gdtr.base;
  trampoline_cr3 = (uint32_t)cr3;
  memcpy((void*)(uintptr_t)TRAMPOLINE_BASE, trampoline_start, (size_t)(trampoline_end - trampoline_start));
  ap_work = work;
  for (uint32_t id = 1; id < count; id++) {
    /* INIT, then SIPI twice, as the MP specification's universal start-up
     * algorithm does (SDM Vol. 3A 9.4.4.1); a second SIPI to a started AP
     * is ignored. */
    lapic_send_ipi(id, 0x4500);
    lapic_send_ipi(id, 0x4600 | SIPI_VECTOR);
    lapic_send_ipi(id, 0x4600 | SIPI_VECTOR);
  }
  wait_for_count(&aps_online, count - 1, 20000 * MILLION_CYCLES);
  return aps_online;
}
