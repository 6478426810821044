/* Echoes the command line ember passed in boot_params, between brackets. */
#include "runtime/guest.h"

int guest_main(void) {
  serial_print("cmdline: [");
  serial_print(boot_cmdline());
  serial_print("]\n");
  return 0;
}
