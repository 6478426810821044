/* ember-command: rings ember's command port (0xf6) and prints the command
 * ember answers with, having set the guest's clock from the answer
 * (devices/command_port.h in ember's source). Statically linked for the
 * initramfs.
 *
 * Under `ember snapshot` the ring is where ember saves the machine: the
 * guest stops inside the port write. A machine restored from that snapshot
 * continues right after it and reads its answer: the host's wall clock (u64,
 * ns since the epoch), the command's length (u32) and the command. The clock
 * is set first, so a restored guest's `date` is the host's, however old the
 * snapshot is.
 *
 * The port is reached as ember-exit reaches its own: through /dev/port
 * where the kernel has it, else with ioperm(). /dev/port first: its I/O
 * runs in the kernel, with no I/O permission bitmap to check, which QEMU's
 * TCG checks wrongly for a restored task register (it wants an available
 * TSS; KVM reports the loaded one as busy, as it is), so a user-mode IN
 * faults in a restored guest in the nested tier. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <time.h>
#include <unistd.h>

#define COMMAND_PORT 0xf6

static int port_fd = -1;

static int open_port(void) {
  port_fd = open("/dev/port", O_RDWR | O_CLOEXEC);
  if (port_fd >= 0) return 0;
  return ioperm(COMMAND_PORT, 1, 1);
}

static void port_write(unsigned char value) {
  if (port_fd < 0) outb(value, COMMAND_PORT);
  else if (pwrite(port_fd, &value, 1, COMMAND_PORT) != 1) perror("ember-command: /dev/port");
}

static unsigned char port_read(void) {
  unsigned char value = 0;
  if (port_fd < 0) value = inb(COMMAND_PORT);
  else if (pread(port_fd, &value, 1, COMMAND_PORT) != 1) perror("ember-command: /dev/port");
  return value;
}

static void port_read_bytes(void* out, size_t length) {
  unsigned char* bytes = out;
  for (size_t i = 0; i < length; ++i) bytes[i] = port_read();
}

int main(void) {
  if (open_port() != 0) {
    perror("ember-command: cannot reach ember's command port (no ioperm, no /dev/port)");
    return 1;
  }
  port_write(1);  /* the doorbell */
  uint64_t wall_ns = 0;
  uint32_t length = 0;
  port_read_bytes(&wall_ns, sizeof wall_ns);
  port_read_bytes(&length, sizeof length);
  const struct timespec now = {(time_t)(wall_ns / 1000000000u), (long)(wall_ns % 1000000000u)};
  if (wall_ns != 0 && clock_settime(CLOCK_REALTIME, &now) != 0) perror("ember-command: cannot set the clock");
  if (length > (1u << 20)) {
    fprintf(stderr, "ember-command: ember answered a command of %u bytes\n", length);
    return 1;
  }
  char* command = malloc(length + 1);
  if (command == NULL) return 1;
  port_read_bytes(command, length);
  command[length] = '\0';
  fputs(command, stdout);
  return 0;
}
