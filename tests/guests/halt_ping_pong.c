/* CPUs in pairs (0 and 1, 2 and 3) take turns: the even one sends its
 * partner an IPI and halts until the answer comes; the odd one halts until
 * the IPI, then answers. Each turn wakes a CPU that is halted, or about to
 * halt, from its partner's thread: the window VcpuRunner::kick must close
 * (ARCHITECTURE.md, "The injection mailbox"). No timer runs, so a wake-up
 * lost there leaves both CPUs halted until ember's --timeout.
 * A CPU without a partner (one CPU) sends itself the IPI with interrupts
 * off and then does `sti; hlt`: the interrupt waits for the window that
 * STI opens, which the nested tier opens at the HLT, inside STI's shadow
 * (VcpuRunner::complete_hlt_before_injecting). */
#include "runtime/smp.h"

#define PING_VECTOR 0x50
#define TURNS       2000
#define MAX_CPUS    16

static volatile uint32_t received[MAX_CPUS], finished, all_online;

static void on_ping(uint8_t vector) {
  (void)vector;
  received[lapic_id()]++;
  lapic_eoi();
}

/* cli, check, then sti; hlt: sti's shadow keeps an interrupt from landing
 * between the check and the halt, so the halt ends only by an interrupt. */
static void halt_until(uint32_t me, uint32_t count) {
  for (;;) {
    disable_interrupts();
    if (received[me] >= count) break;
    wait_for_interrupt();
  }
  enable_interrupts();
}

static void play(uint32_t me) {
  if (!wait_for_count(&all_online, 1, 10000 * MILLION_CYCLES)) guest_fail("never told that all CPUs are online");
  const uint32_t partner = me ^ 1;
  for (uint32_t turn = 1; turn <= TURNS; turn++) {
    if (partner >= cpu_count()) {
      disable_interrupts();
      lapic_send_ipi(me, PING_VECTOR);
    } else if (me % 2 == 0) {
      lapic_send_ipi(partner, PING_VECTOR);
    } else {
      halt_until(me, turn);
      lapic_send_ipi(partner, PING_VECTOR);
      continue;
    }
    halt_until(me, turn);
  }
  if (received[me] != TURNS) guest_fail("a CPU received more IPIs than it was sent");
  __atomic_add_fetch(&finished, 1, __ATOMIC_SEQ_CST);
}

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(PING_VECTOR, on_ping);
  enable_interrupts();
  const uint32_t count = cpu_count();
  if (count > MAX_CPUS) guest_fail("more CPUs than this program counts");
  if (start_aps(play) != count - 1) guest_fail("not every AP came online");
  all_online = 1;
  play(0);
  if (!wait_for_count(&finished, count, 10000 * MILLION_CYCLES)) guest_fail("a CPU never finished its turns");
  serial_print("halt ping-pong: ");
  serial_print_dec(TURNS);
  serial_print(" wake-ups of a halted CPU per CPU ok\n");
  return 0;
}
