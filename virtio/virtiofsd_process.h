// The virtiofsd that `--share DIR` starts for a shared directory: ember
// owns its lifetime. It is started before ember drops its privileges
// (virtiofsd's namespace sandbox needs them) and takes a socket ember
// already listens on.
//
// Its parent is a keeper process ember forks first ("ember-keeper"), so
// that ember's seccomp filter needs neither kill nor wait4: ember stops
// virtiofsd with the guest by closing a pipe, and the keeper, which never
// dropped privileges, sends SIGTERM, then SIGKILL after a grace period, reaps
// it and exits; ember waits for that on a second pipe, with read() and
// poll(). ember's death closes the pipe too. Should the keeper die,
// PR_SET_PDEATHSIG ends virtiofsd.
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

#include <chrono>
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

  // The keeper's pid; virtiofsd is its only child.
  pid_t keeper_pid() const { return keeper_pid_; }
  // ember's end of the vhost-user socket, connected (virtiofsd accepts it
  // once it has started); the caller takes it.
  FileDescriptor take_connection() { return std::move(connection_); }
  // The keeper needs up to 3 s: SIGTERM, up to 2 s, SIGKILL, up to 1 s.
  static constexpr std::chrono::seconds kStopWait{4};
  // Has the keeper stop virtiofsd; then waits until it is done, or until
  // `deadline`. Apart, so several shares stop at once (Machine::stop_devices).
  void request_stop();
  void wait_stopped(std::chrono::steady_clock::time_point deadline);
  // Both, with kStopWait.
  void stop();

 private:
  VirtiofsdProcess(pid_t keeper_pid, FileDescriptor connection, FileDescriptor stop_request, FileDescriptor done)
      : keeper_pid_{keeper_pid}, connection_{std::move(connection)}, stop_request_{std::move(stop_request)}, done_{std::move(done)} {}

  pid_t          keeper_pid_ = -1;
  FileDescriptor connection_;
  FileDescriptor stop_request_;  // closing it asks the keeper to stop virtiofsd
  FileDescriptor done_;          // end of file once the keeper has exited
};

// The virtiofsd `--share` starts.
std::string virtiofsd_path();

}  // namespace ember::virtio
