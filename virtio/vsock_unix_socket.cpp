#include "virtio/vsock_unix_socket.h"

#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace ember::virtio {
namespace {

Result<sockaddr_un> unix_address(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof(address.sun_path)) {
    return Error{"vsock socket path '" + path + "' is empty or longer than " + std::to_string(sizeof(address.sun_path) - 1) +
                 " bytes"};
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  return address;
}

bool ours(uid_t uid) { return uid == ::geteuid() || uid == 0; }

}  // namespace

Result<FileDescriptor> listen_for_host_programs(const std::string& path, size_t connections) {
  auto address = unix_address(path);
  if (!address) return address.error();
  // A socket file left by an earlier run is replaced; anything else is not ours.
  struct stat existing {};
  if (::lstat(path.c_str(), &existing) == 0) {
    if (!S_ISSOCK(existing.st_mode)) return Error{"vsock socket path '" + path + "' exists and is not a socket"};
    FileDescriptor probe{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (probe.valid() && ::connect(probe.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof *address) == 0) {
      return Error{"vsock socket '" + path + "' is in use by another process"};
    }
    ::unlink(path.c_str());
  }
  FileDescriptor listener{::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (!listener.valid() || ::bind(listener.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof *address) != 0 ||
      ::listen(listener.get(), 16) != 0) {
    return Error{"cannot listen on vsock socket '" + path + "': " + std::strerror(errno)};
  }
  // Every connection holds a host socket: the soft descriptor limit (often
  // 1024) is raised, within the hard one. Where the hard limit is lower,
  // host clients wait when descriptors run out (the device's accept).
  const rlim_t wanted = static_cast<rlim_t>(connections) + 256;
  if (rlimit limit{}; ::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < wanted) {
    limit.rlim_cur = std::min(wanted, limit.rlim_max);
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
  }
  return listener;
}

Result<std::optional<FileDescriptor>> connect_to_host_program(const std::string& path) {
  struct stat listener {};
  if (::lstat(path.c_str(), &listener) == 0 && !ours(listener.st_uid)) {
    return Error{"it belongs to uid " + std::to_string(listener.st_uid) + ", not to ember's user"};
  }
  auto address = unix_address(path);
  FileDescriptor socket{::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (!address || !socket.valid() ||
      ::connect(socket.get(), reinterpret_cast<const sockaddr*>(&*address), sizeof *address) != 0) {
    return std::optional<FileDescriptor>{};  // nobody listens there
  }
  // The listener's own credentials too: the path may have been created by
  // another user between the lstat above and the connect.
  ucred peer{};
  socklen_t peer_size = sizeof peer;
  if (::getsockopt(socket.get(), SOL_SOCKET, SO_PEERCRED, &peer, &peer_size) != 0 || !ours(peer.uid)) {
    return Error{"its listener runs as another user"};
  }
  return std::optional<FileDescriptor>{std::move(socket)};
}

}  // namespace ember::virtio
