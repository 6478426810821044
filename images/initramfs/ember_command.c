/* ember-command: rings ember's command port and runs the command ember
 * answers with (sh -c COMMAND, on init's console), having set the guest's
 * clock from the answer (devices/command_port.h in ember's source); then
 * ends the VM with the command's status, as init's `sh -c "$command";
 * ember-exit $?` does on a cold boot. With no command it exits 0, and init
 * goes on to its shell. Statically linked for the initramfs; ports reached
 * as ember_port.h says.
 *
 * Under `ember snapshot` the ring is where ember saves the machine: the
 * guest stops inside the port write. A machine restored from that snapshot
 * continues right after it and reads its answer: the host's wall clock (u64,
 * ns since the epoch), the command's length (u32) and the command. The clock
 * is set first, so a restored guest's `date` is the host's, however old the
 * snapshot is.
 *
 * Running the command from here, not from init's shell, is what a restore
 * costs least: after the restore the guest creates one process (sh) where
 * `command=$(ember-command); sh -c "$command"; ember-exit $?` created two,
 * and in a freshly restored guest every page a new process touches is a
 * nested page fault for KVM (bench/README, snapshot/restore). */
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include "ember_port.h"

static const char kName[] = "ember-command";

static int read_bytes(void* out, size_t length) {
  unsigned char* bytes = out;
  for (size_t i = 0; i < length; ++i) {
    if (ember_port_read(EMBER_COMMAND_PORT, &bytes[i]) != 0) {
      fprintf(stderr, "%s: cannot read the command port: %s\n", kName, strerror(errno));
      return -1;
    }
  }
  return 0;
}

/* The status sh's $? would show: the exit status, or 128 + the signal. */
static int status_of(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  return WEXITSTATUS(wait_status);
}

int main(void) {
  if (ember_port_open(kName, EMBER_COMMAND_PORT) != 0) return 1;
  if (ember_port_write(EMBER_COMMAND_PORT, 1) != 0) { /* the doorbell */
    fprintf(stderr, "%s: cannot ring the command port: %s\n", kName, strerror(errno));
    return 1;
  }
  uint64_t wall_ns = 0;
  uint32_t length = 0;
  if (read_bytes(&wall_ns, sizeof wall_ns) != 0 || read_bytes(&length, sizeof length) != 0) return 1;
  const struct timespec now = {(time_t)(wall_ns / 1000000000u), (long)(wall_ns % 1000000000u)};
  if (wall_ns != 0 && clock_settime(CLOCK_REALTIME, &now) != 0) perror("ember-command: cannot set the clock");
  if (length > (1u << 20)) {
    fprintf(stderr, "%s: ember answered a command of %u bytes\n", kName, length);
    return 1;
  }
  if (length == 0) return 0;
  char* command = malloc(length + 1);
  if (command == NULL || read_bytes(command, length) != 0) return 1;
  command[length] = '\0';
  /* The command may signal its whole process group (`kill 0`, `trap 'kill
   * 0' EXIT`) or every process (`kill -TERM -1`). On a cold boot that
   * reaches init, PID 1, which the kernel shields; here it would reach
   * ember-command and lose the command's status. So ember-command ignores
   * the signals a command sends around, and the command gets them back. */
  static const int kShielded[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM};
  for (size_t i = 0; i < sizeof kShielded / sizeof kShielded[0]; ++i) signal(kShielded[i], SIG_IGN);
  signal(SIGCHLD, SIG_DFL); /* waitpid must see the child */
  const pid_t child = fork();
  if (child < 0) {
    perror("ember-command: fork");
    return 1;
  }
  if (child == 0) {
    for (size_t i = 0; i < sizeof kShielded / sizeof kShielded[0]; ++i) signal(kShielded[i], SIG_DFL);
    execl("/bin/sh", "sh", "-c", command, (char*)NULL);
    perror("ember-command: cannot run /bin/sh");
    _exit(127);
  }
  int wait_status = 0;
  while (waitpid(child, &wait_status, 0) < 0) {
    if (errno != EINTR) {
      perror("ember-command: waitpid");
      return 1;
    }
  }
  ember_exit_with(kName, status_of(wait_status));
  return 1; /* reached only when the exit port could not be written */
}
