/* The task priority register holds back vectors of its priority class and
 * below; lowering it releases them. */
#include "runtime/interrupts.h"

#define received interrupt_count

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(0x45, count_and_eoi);
  set_handler(0x65, count_and_eoi);
  enable_interrupts();
  lapic_write(LAPIC_TPR, 0x50);
  lapic_send_ipi(0, (1u << 18) | 0x45);
  spin(20 * MILLION_CYCLES);
  if (received[0x45] != 0) guest_fail("TPR 0x50 let vector 0x45 through");
  if (!(lapic_read(LAPIC_IRR + 0x20) & (1u << 5))) guest_fail("vector 0x45 is not pending in IRR");
  lapic_send_ipi(0, (1u << 18) | 0x65);
  if (!wait_for_count(&received[0x65], 1, 10000 * MILLION_CYCLES)) guest_fail("TPR 0x50 held back vector 0x65");
  lapic_write(LAPIC_TPR, 0x00);
  if (!wait_for_count(&received[0x45], 1, 10000 * MILLION_CYCLES)) guest_fail("lowering TPR did not release vector 0x45");
  spin(20 * MILLION_CYCLES);
  if (received[0x45] != 1 || received[0x65] != 1) guest_fail("a vector arrived twice");
  serial_print("tpr masking ok\n");
  return 0;
}
