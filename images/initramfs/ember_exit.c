/* ember-exit STATUS: ends the VM with STATUS through ember's exit port
 * (0xf4); ember-boot-timer (the same program under another name) writes
 * ember's boot-timer port (0xf5) so ember can timestamp init. Statically
 * linked for the initramfs.
 *
 * Two ways to reach a port from user space, so that any kernel a user brings
 * works: a one-byte write at offset PORT of /dev/port (needs CONFIG_DEVPORT),
 * then ioperm() (needs CONFIG_X86_IOPL_IOPERM; without it the call fails
 * with ENOSYS). The project's kernel has both. /dev/port first: the kernel
 * does the I/O, so no I/O permission bitmap is checked, which QEMU's TCG
 * gets wrong in a guest restored from a snapshot (ember_command.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <termios.h>
#include <unistd.h>

static int write_port(unsigned short port, unsigned char value) {
  const int fd = open("/dev/port", O_WRONLY | O_CLOEXEC);
  if (fd >= 0 && pwrite(fd, &value, 1, port) == 1) {
    close(fd);
    return 0;
  }
  const int port_error = errno;
  if (ioperm(port, 1, 1) == 0) {
    outb(value, port);
    return 0;
  }
  fprintf(stderr, "ember-exit: cannot write port %#x: /dev/port: %s; ioperm: %s\n", port, strerror(port_error),
          strerror(errno));
  return -1;
}

int main(int argc, char** argv) {
  const char* name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
  const unsigned short port = strcmp(name, "ember-boot-timer") == 0 ? 0xf5 : 0xf4;
  const int value = port == 0xf4 && argc > 1 ? atoi(argv[1]) : 0;
  /* The exit port ends the VM at once: first let the console send what the
   * command wrote and the tty still holds (a serial console transmits a
   * FIFO at a time, on interrupts). Without this the end of a command's
   * output was lost. Not a terminal: nothing to wait for. */
  if (port == 0xf4) {
    tcdrain(STDOUT_FILENO);
    tcdrain(STDERR_FILENO);
  }
  if (write_port(port, (unsigned char)value) != 0) return 1;
  return 0; /* reached only by the boot timer: the exit port ends the VM */
}
