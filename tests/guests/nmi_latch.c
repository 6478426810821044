/* NMIs latch as on hardware (Intel SDM Vol. 3A 6.7.1): while one NMI is
 * serviced (blocked until IRET) one more stays pending and further ones are
 * lost; two NMIs that arrive together are two, never merged into one.
 *  - any CPU count: the NMI handler sends itself two NMIs; after its IRET
 *    exactly one more arrives;
 *  - two or more CPUs: in each of many rounds AP 1 sends two NMIs back to back
 *    to the BSP, which must receive both. */
#include "runtime/smp.h"

#define NMI_IPI ((4u << 8) | (1u << 14)) /* delivery mode NMI, assert */
#define ROUNDS 300

static volatile uint32_t nmis;
static volatile uint32_t resend;
static volatile uint32_t round_go, round_sent;

static void on_nmi(uint8_t vector) {
  (void)vector;
  nmis++;
  if (resend) {
    resend = 0;
    lapic_send_ipi(0, (1u << 18) | NMI_IPI);
    lapic_send_ipi(0, (1u << 18) | NMI_IPI);
    spin(5 * MILLION_CYCLES);
  }
}

static void ap_work(uint32_t apic_id) {
  if (apic_id != 1) return;
  for (uint32_t round = 1; round <= ROUNDS; round++) {
    while (round_go != round) cpu_relax();
    lapic_send_ipi(0, NMI_IPI);
    lapic_send_ipi(0, NMI_IPI);
    round_sent = round;
  }
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(2, on_nmi);

  resend = 1;
  lapic_send_ipi(0, (1u << 18) | NMI_IPI);
  if (!wait_for_count(&nmis, 2, 10000 * MILLION_CYCLES)) guest_fail("the NMI latched during the handler never arrived");
  spin(50 * MILLION_CYCLES);
  expect_equal("NMIs after two sent inside the handler of a first", nmis, 2);

  if (cpu_count() > 1) {
    if (start_aps(ap_work) < 1) guest_fail("AP 1 did not start");
    for (uint32_t round = 1; round <= ROUNDS; round++) {
      nmis = 0;
      round_go = round;
      while (round_sent != round) cpu_relax();
      if (!wait_for_count(&nmis, 2, 10000 * MILLION_CYCLES)) {
        serial_print("round ");
        serial_print_dec(round);
        serial_print(": ");
        guest_fail("two NMIs sent back to back arrived as one");
      }
    }
    spin(20 * MILLION_CYCLES);
    expect_equal("NMIs in the last round", nmis, 2);
  }
  serial_print("nmi latch: one pending behind one in service, two back to back are two ok\n");
  return 0;
}
