/* Reaching ember's ports from user space, for the initramfs helpers: the
 * exit port 0xf4, the boot timer 0xf5 and the command port 0xf6
 * (devices/exit_port.h and devices/command_port.h in ember's source).
 * Two ways, so that any kernel a user brings works: one byte at offset
 * PORT of /dev/port (needs CONFIG_DEVPORT), else ioperm() (needs
 * CONFIG_X86_IOPL_IOPERM; without it the call fails with ENOSYS). The
 * project's kernel has both.
 *
 * /dev/port first: its I/O runs in the kernel, with no I/O permission
 * bitmap to check, which QEMU's TCG checks wrongly for a restored task
 * register (it wants an available TSS; KVM reports the loaded one as busy,
 * as it is), so a user-mode IN or OUT faults in a guest restored from a
 * snapshot in the nested tier. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/io.h>
#include <termios.h>
#include <unistd.h>

#define EMBER_EXIT_PORT 0xf4
#define EMBER_BOOT_TIMER_PORT 0xf5
#define EMBER_COMMAND_PORT 0xf6

/* /dev/port, opened once; -1 when the kernel has none (then ioperm). */
static int ember_port_fd = -1;

/* 0, or -1 with errno and a message on stderr naming PROGRAM. */
static inline int ember_port_open(const char* program, unsigned short port) {
  ember_port_fd = open("/dev/port", O_RDWR | O_CLOEXEC);
  if (ember_port_fd >= 0) return 0;
  const int port_error = errno;
  if (ioperm(port, 1, 1) == 0) return 0;
  fprintf(stderr, "%s: cannot reach port %#x: /dev/port: %s; ioperm: %s\n", program, port, strerror(port_error),
          strerror(errno));
  return -1;
}

/* Through /dev/port when it is open; else, or when it fails, with ioperm
 * (-1 with errno only when both fail). */
static inline int ember_port_write(unsigned short port, unsigned char value) {
  if (ember_port_fd >= 0 && pwrite(ember_port_fd, &value, 1, port) == 1) return 0;
  const int port_error = errno;
  if (ember_port_fd >= 0 && ioperm(port, 1, 1) != 0) {
    errno = port_error;
    return -1;
  }
  outb(value, port);
  return 0;
}

static inline int ember_port_read(unsigned short port, unsigned char* value) {
  if (ember_port_fd >= 0 && pread(ember_port_fd, value, 1, port) == 1) return 0;
  const int port_error = errno;
  if (ember_port_fd >= 0 && ioperm(port, 1, 1) != 0) {
    errno = port_error;
    return -1;
  }
  *value = inb(port);
  return 0;
}

/* Ends the VM with STATUS. The exit port ends it at once: first let the
 * console send what the command wrote and the tty still holds (a serial
 * console transmits a FIFO at a time, on interrupts); without this the end
 * of a command's output was lost. Not a terminal: nothing to wait for.
 * Returns only when the port cannot be written. */
static inline int ember_exit_with(const char* program, int status) {
  tcdrain(STDOUT_FILENO);
  tcdrain(STDERR_FILENO);
  if (ember_port_fd < 0 && ember_port_open(program, EMBER_EXIT_PORT) != 0) return -1;
  if (ember_port_write(EMBER_EXIT_PORT, (unsigned char)status) != 0) {
    fprintf(stderr, "%s: cannot write the exit port: %s\n", program, strerror(errno));
    return -1;
  }
  return 0;
}
