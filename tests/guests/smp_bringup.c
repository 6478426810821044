/* INIT/SIPI brings up every AP; each reports its APIC ID. */
#include "runtime/smp.h"

static volatile uint32_t seen_ids;

static void report(uint32_t apic_id) { __atomic_or_fetch(&seen_ids, 1u << apic_id, __ATOMIC_SEQ_CST); }

int guest_main(void) {
  idt_init();
  lapic_enable();
  const uint32_t count = cpu_count();
  const uint32_t online = start_aps(report);
  if (online != count - 1) guest_fail("not every AP came online");
  if (!wait_for_count(&aps_online, count - 1, 1)) guest_fail("AP count changed");
  const uint32_t expected = ((1u << count) - 1) & ~1u;
  for (int i = 0; i < 100000000 && seen_ids != expected; i++) cpu_relax();
  if (seen_ids != expected) guest_fail("an AP reported the wrong APIC ID");
  serial_print("cpus online: ");
  serial_print_dec(count);
  serial_print("\n");
  return 0;
}
