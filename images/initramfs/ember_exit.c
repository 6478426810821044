/* ember-exit STATUS: ends the VM with STATUS through ember's exit port
 * (0xf4); ember-boot-timer (the same program under another name) writes
 * ember's boot-timer port (0xf5) so ember can timestamp init. Statically
 * linked for the initramfs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>

int main(int argc, char** argv) {
  const char* name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  const unsigned short port = strcmp(name, "ember-boot-timer") == 0 ? 0xf5 : 0xf4;
  const int value = port == 0xf4 && argc > 1 ? atoi(argv[1]) : 0;
  if (ioperm(port, 1, 1) != 0) {
    perror("ioperm");
    return 1;
  }
  outb((unsigned char)value, port);
  return 0; /* reached only by the boot timer: the exit port ends the VM */
}
