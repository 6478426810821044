// Socket helpers for tests that talk to a guest through ember's devices
// (the vsock bridge's Unix sockets, virtio-net over TAP).
#pragma once

#include <sys/un.h>

#include <cstddef>
#include <string>

namespace ember::test {

sockaddr_un unix_address(const std::string& path);

// Waits up to `seconds` for `fd` to be readable.
bool readable(int fd, int seconds);

// Reads until `length` bytes arrived, the peer closed, or 30 s passed
// without data; returns what arrived.
std::string read_up_to(int fd, size_t length);

// A listening Unix stream socket at `path` (replacing any socket there),
// open to every user so an ember running as another user (--user) can
// connect; -1 when it cannot be made.
int listen_unix(const std::string& path, int backlog = 4);

// Connects to the Unix socket `path`; -1 when it cannot.
int connect_unix(const std::string& path);

}  // namespace ember::test
