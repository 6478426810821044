/* Halts with interrupts disabled: nothing can ever wake it. */
#include "runtime/guest.h"

int guest_main(void) {
  serial_print("halting with interrupts off\n");
  for (;;) __asm__ volatile("cli; hlt");
}
