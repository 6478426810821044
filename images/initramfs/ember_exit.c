/* ember-exit STATUS: ends the VM with STATUS through ember's exit port;
 * ember-boot-timer (the same program under another name) writes ember's
 * boot-timer port so ember can timestamp init. Statically linked for the
 * initramfs; ports reached as ember_port.h says. */
#include <stdlib.h>
#include <string.h>

#include "ember_port.h"

int main(int argc, char** argv) {
  const char* name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  if (strcmp(name, "ember-boot-timer") == 0) {
    if (ember_port_open(name, EMBER_BOOT_TIMER_PORT) != 0) return 1;
    return ember_port_write(EMBER_BOOT_TIMER_PORT, 0) == 0 ? 0 : 1;
  }
  ember_exit_with(name, argc > 1 ? atoi(argv[1]) : 0);
  return 1; /* reached only when the exit port could not be written */
}
