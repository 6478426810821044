// The virtiofsd that `--share DIR` starts for a shared directory: ember
// owns its lifetime. It is started before ember drops its privileges
// (virtiofsd's namespace sandbox needs them), listens on a socket in a
// private temporary directory, and is stopped with the guest (SIGTERM, then
// SIGKILL after a grace period). PR_SET_PDEATHSIG ends it should ember die.
//
// Which virtiofsd: QEMU's C virtiofsd, which Debian 12 ships in
// qemu-system-common at /usr/lib/qemu/virtiofsd (EMBER_VIRTIOFSD overrides
// the path). Its options: --socket-path, -o source=DIR, -o cache=auto,
// -o sandbox=namespace. It has no read-only option, so for `ro` ember starts
// it in a mount namespace of its own where DIR is bind-mounted read-only:
// the kernel refuses every write, whatever the guest sends.
#pragma once

#include <sys/types.h>

#include <string>

#include "base/result.h"

namespace ember::virtio {

class VirtiofsdProcess {
 public:
  static Result<VirtiofsdProcess> start(const std::string& host_dir, bool read_only, const std::string& tag);
  VirtiofsdProcess(VirtiofsdProcess&& other) noexcept;
  VirtiofsdProcess& operator=(VirtiofsdProcess&&) = delete;
  ~VirtiofsdProcess();

  const std::string& socket_path() const { return socket_path_; }
  pid_t              pid() const { return pid_; }
  // Waits (at most `timeout_ms`) until the socket accepts a connection, and
  // returns it connected. An error if virtiofsd exited first.
  Result<int> connect(int timeout_ms);
  // SIGTERM, up to 2 s to exit, then SIGKILL; reaps it.
  void stop();

 private:
  void remove_socket_directory();
  VirtiofsdProcess(pid_t pid, std::string directory, std::string socket_path)
      : pid_{pid}, directory_{std::move(directory)}, socket_path_{std::move(socket_path)} {}

  pid_t       pid_ = -1;
  std::string directory_;  // the private temporary directory holding the socket
  std::string socket_path_;
};

// The virtiofsd `--share` starts.
std::string virtiofsd_path();

}  // namespace ember::virtio
