/* Never ends: for --timeout tests. */
#include "runtime/guest.h"

int guest_main(void) {
  serial_print("spinning\n");
  for (;;) __asm__ volatile("pause");
}
