// The host side of the virtio-vsock bridge: Unix sockets, as Firecracker's
// vsock backend does it (vsock_device.h says who connects to what). Here is
// only the socket work: ember's listening socket, and connecting the guest
// to a host program's socket PATH_P, which must belong to ember's user or
// root (the default PATH is in /tmp, where another user could otherwise
// listen and receive the guest's connections).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "base/file_descriptor.h"
#include "base/result.h"

namespace ember::virtio {

// Listens, non-blocking, on `path`, replacing a stale socket file an
// earlier run left but nothing else (another live ember's socket, a file
// that is no socket). Raises the soft descriptor limit, within the hard
// one, so `connections` host sockets fit beside ember's own. Errors name
// the path.
Result<FileDescriptor> listen_for_host_programs(const std::string& path, size_t connections);

// A non-blocking socket connected to the host program listening at `path`;
// nullopt when nobody listens there (the usual refusal, not worth a
// warning). The error says why ember will not connect: the socket, or its
// listener, belongs to another user.
Result<std::optional<FileDescriptor>> connect_to_host_program(const std::string& path);

}  // namespace ember::virtio
