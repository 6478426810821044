/* Halts with interrupts disabled: nothing can ever wake it. The ud2 after
 * the hlt is never executed; it is what the crash report finds at RIP. */
#include "runtime/guest.h"

int guest_main(void) {
  serial_print("halting with interrupts off\n");
  for (;;) __asm__ volatile("cli; hlt; ud2");
}
