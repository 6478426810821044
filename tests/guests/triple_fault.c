/* Raises #UD with an empty IDT: #UD -> #GP -> #DF -> triple fault. */
#include "runtime/guest.h"

int guest_main(void) {
  serial_print("about to triple fault\n");
  static const struct __attribute__((packed)) { uint16_t limit; uint64_t base; } empty_idt = {0, 0};
  __asm__ volatile("lidt %0; ud2" : : "m"(empty_idt));
  return 3;
}
