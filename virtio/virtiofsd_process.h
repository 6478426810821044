// The virtiofsd that `--share DIR` starts for a shared directory: ember
// owns its lifetime. It is started before ember drops its privileges
// (virtiofsd's namespace sandbox needs them), takes a socket ember already
// listens on, and is stopped with the guest (SIGTERM, then SIGKILL after a
// grace period; where --user leaves ember unable to signal it, it ends when
// its socket closes). PR_SET_PDEATHSIG ends it should ember die.
//
// Which virtiofsd: QEMU's C virtiofsd, which Debian 12 ships in
// qemu-system-common at /usr/lib/qemu/virtiofsd (EMBER_VIRTIOFSD overrides
// the path). Its options: --fd (ember listens on an abstract Unix address,
// so nothing is written to the filesystem), -o source, -o cache=auto,
// -o sandbox=namespace. It runs in a mount namespace of its
// own where DIR is bind-mounted (with everything below it) on a mount point
// in that namespace's own tmpfs, which it pivots into; it cannot pivot into
// / itself.
// It has no read-only option, so for `ro` that bind mount is read-only
// throughout (mount_setattr, AT_RECURSIVE): the kernel refuses every
// write, whatever the guest sends.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/file_descriptor.h"
#include "base/result.h"

namespace ember::virtio {

class VirtiofsdProcess {
 public:
  static Result<VirtiofsdProcess> start(const std::string& host_dir, bool read_only);
  VirtiofsdProcess(VirtiofsdProcess&& other) noexcept;
  VirtiofsdProcess& operator=(VirtiofsdProcess&&) = delete;
  ~VirtiofsdProcess();

  pid_t pid() const { return pid_; }
  // ember's end of the vhost-user socket, connected (virtiofsd accepts it
  // once it has started); the caller takes it.
  FileDescriptor take_connection() { return std::move(connection_); }
  // SIGTERM, up to 2 s to exit, then SIGKILL; reaps it.
  void stop();

 private:
  VirtiofsdProcess(pid_t pid, FileDescriptor connection) : pid_{pid}, connection_{std::move(connection)} {}

  pid_t          pid_ = -1;
  FileDescriptor connection_;
};

// The virtiofsd `--share` starts.
std::string virtiofsd_path();

}  // namespace ember::virtio
