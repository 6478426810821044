/* CR8 and the LAPIC's TPR are one register (Intel SDM Vol. 3A 11.8.6.1):
 * MOV to CR8 shows in TPR, whether it raises CR8 (no exit) or lowers it (KVM
 * exits with KVM_EXIT_SET_TPR), a TPR write shows in CR8, and CR8 holds back
 * vectors of its priority class and below until it is lowered. */
#include "runtime/interrupts.h"

static inline void write_cr8(uint64_t value) { __asm__ volatile("mov %0, %%cr8" : : "r"(value) : "memory"); }
static inline uint64_t read_cr8(void) {
  uint64_t value;
  __asm__ volatile("mov %%cr8, %0" : "=r"(value));
  return value;
}

#define received interrupt_count

int guest_main(void) {
  idt_init();
  lapic_enable();
  set_handler(0x45, count_and_eoi);
  set_handler(0x65, count_and_eoi);

  write_cr8(0xf);
  expect_equal("TPR after mov cr8, 0xf", lapic_read(LAPIC_TPR), 0xf0);
  write_cr8(0);
  expect_equal("TPR after lowering CR8 to 0", lapic_read(LAPIC_TPR), 0);
  lapic_write(LAPIC_TPR, 0x50);
  expect_equal("CR8 after TPR 0x50", read_cr8(), 5);
  lapic_write(LAPIC_TPR, 0);
  expect_equal("CR8 after TPR 0", read_cr8(), 0);

  enable_interrupts();
  write_cr8(5);
  lapic_send_ipi(0, (1u << 18) | 0x45); /* self */
  spin(20 * MILLION_CYCLES);
  if (received[0x45] != 0) guest_fail("CR8 5 let vector 0x45 through");
  lapic_send_ipi(0, (1u << 18) | 0x65);
  if (!wait_for_count(&received[0x65], 1, 10000 * MILLION_CYCLES)) guest_fail("CR8 5 held back vector 0x65");
  write_cr8(0);
  if (!wait_for_count(&received[0x45], 1, 10000 * MILLION_CYCLES)) guest_fail("lowering CR8 did not release vector 0x45");
  spin(20 * MILLION_CYCLES);
  if (received[0x45] != 1 || received[0x65] != 1) guest_fail("a vector arrived twice");
  serial_print("cr8/tpr: mov cr8 shows in TPR, TPR in CR8, CR8 holds back its class ok\n");
  return 0;
}
