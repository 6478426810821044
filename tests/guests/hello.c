/* Prints one line and exits with the status given as exit=N (default 0). */
#include "runtime/guest.h"

int guest_main(void) {
  serial_print("Hello from an ember guest program\n");
  return (int)cmdline_number("exit", 0);
}
