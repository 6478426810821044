/* ember-vsock connect PORT | listen PORT: one AF_VSOCK stream connection
 * between the guest's stdin/stdout and the host (CID 2) port PORT, or the
 * first host connection to the guest's PORT. It copies stdin to the
 * connection, half-closing it at EOF, and the connection to stdout until the
 * host closes it. With ember's --vsock bridge the host end is a Unix socket
 * (README, "--vsock"). busybox has no vsock client; statically linked for
 * the initramfs. Exit status: 0, or 1 with the failing call on stderr. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static int fail(const char* what) {
  fprintf(stderr, "ember-vsock: %s: %s\n", what, strerror(errno));
  return 1;
}

static int copy(int from, int to) { /* 1 copied, 0 end of input, -1 error */
  char buffer[4096];
  const ssize_t got = read(from, buffer, sizeof buffer);
  if (got <= 0) return got == 0 ? 0 : -1;
  for (ssize_t done = 0; done < got;) {
    const ssize_t put = write(to, buffer + done, (size_t)(got - done));
    if (put <= 0) return -1;
    done += put;
  }
  return 1;
}

int main(int argc, char** argv) {
  if (argc != 3 || (strcmp(argv[1], "connect") != 0 && strcmp(argv[1], "listen") != 0)) {
    fprintf(stderr, "usage: ember-vsock connect PORT | listen PORT\n");
    return 2;
  }
  struct sockaddr_vm address = {.svm_family = AF_VSOCK, .svm_port = (unsigned)strtoul(argv[2], NULL, 10)};
  int connection = socket(AF_VSOCK, SOCK_STREAM, 0);
  if (connection < 0) return fail("socket(AF_VSOCK)");
  if (strcmp(argv[1], "connect") == 0) {
    address.svm_cid = VMADDR_CID_HOST;
    if (connect(connection, (struct sockaddr*)&address, sizeof address) != 0) return fail("connect");
  } else {
    address.svm_cid = VMADDR_CID_ANY;
    if (bind(connection, (struct sockaddr*)&address, sizeof address) != 0) return fail("bind");
    if (listen(connection, 1) != 0) return fail("listen");
    const int accepted = accept(connection, NULL, NULL);
    if (accepted < 0) return fail("accept");
    close(connection);
    connection = accepted;
  }
  struct pollfd fds[2] = {{.fd = STDIN_FILENO, .events = POLLIN}, {.fd = connection, .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) return fail("poll");
    if (fds[0].revents) {
      const int copied = copy(STDIN_FILENO, connection);
      if (copied < 0) return fail("sending");
      if (copied == 0) {
        shutdown(connection, SHUT_WR);
        fds[0].fd = -1;
      }
    }
    if (fds[1].revents) {
      const int copied = copy(connection, STDOUT_FILENO);
      if (copied < 0) return fail("receiving");
      if (copied == 0) return 0;
    }
  }
}
