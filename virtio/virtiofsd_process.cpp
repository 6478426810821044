#include "virtio/virtiofsd_process.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace ember::virtio {
namespace {

// In the child, between fork and exec. ember has started no thread yet
// (Machine::create forks before its first), so allocating here is safe.
// The directory virtiofsd shares, in its own mount namespace: a tmpfs of
// that namespace's own holds the mount point, so nothing is made or left
// in ember's filesystem.
constexpr const char* kMountPoint = "/tmp/ember-share";

[[noreturn]] void exec_virtiofsd(const std::string& binary, const std::vector<std::string>& args, const std::string& host_dir,
                                 bool read_only, int listener) {
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  ::fcntl(listener, F_SETFD, 0);  // virtiofsd's --fd: it survives the exec
  const int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) {
    ::dup2(null, STDIN_FILENO);
    if (null != STDIN_FILENO) ::close(null);
  }
  // A mount namespace of its own, where kMountPoint is a bind mount of the
  // shared directory (and of everything mounted below it), read-only
  // throughout for `ro`. virtiofsd's sandbox pivots into it, which it
  // cannot do into / itself, hence a mount point of its own. The
  // directory is bound through a descriptor opened before the tmpfs hides
  // it (a share under /tmp).
  int shared = -1;
  struct mount_attr read_only_attr {};
  read_only_attr.attr_set = MOUNT_ATTR_RDONLY;
  // (The descriptor is opened inside the new namespace: a mount of the old
  // one cannot be bound.)
  const char* failed = ::unshare(CLONE_NEWNS) != 0                                                  ? "unshare"
                       : ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0            ? "make private"
                       : (shared = ::open(host_dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0   ? "open"
                       : ::mount("ember-share", "/tmp", "tmpfs", 0, "mode=0700") != 0                ? "tmpfs"
                       : ::mkdir(kMountPoint, 0700) != 0                                            ? "mkdir"
                       : ::mount(("/proc/self/fd/" + std::to_string(shared)).c_str(), kMountPoint, nullptr,
                                 MS_BIND | MS_REC, nullptr) != 0                                    ? "bind"
                       : read_only && ::mount_setattr(AT_FDCWD, kMountPoint, AT_RECURSIVE, &read_only_attr,
                                                      sizeof read_only_attr) != 0                    ? "read-only"
                                                                                                    : nullptr;
  if (failed != nullptr) {
    const char* parts[] = {"ember: cannot prepare the shared directory for virtiofsd (", failed, ": ", ::strerror(errno), ")\n"};
    for (const char* part : parts) (void)!::write(STDERR_FILENO, part, std::strlen(part));
    ::_exit(126);
  }
  ::close(shared);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  ::execv(binary.c_str(), argv.data());
  ::_exit(127);
}

}  // namespace

std::string virtiofsd_path() {
  if (const char* chosen = std::getenv("EMBER_VIRTIOFSD"); chosen != nullptr && *chosen != '\0') return chosen;
  return "/usr/lib/qemu/virtiofsd";
}

Result<VirtiofsdProcess> VirtiofsdProcess::start(const std::string& host_dir, bool read_only) {
  const std::string binary = virtiofsd_path();
  if (::access(binary.c_str(), X_OK) != 0) {
    return Error{"--share needs virtiofsd, which is not at " + binary +
                 " (Debian: apt-get install qemu-system-common; or set EMBER_VIRTIOFSD)"};
  }
  struct stat info {};
  if (::stat(host_dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
    return Error{"--share '" + host_dir + "' is not a directory"};
  }
  char* real = ::realpath(host_dir.c_str(), nullptr);
  if (real == nullptr) return Error{"--share '" + host_dir + "': " + std::strerror(errno)};
  const std::string source = real;
  std::free(real);

  // ember makes the listening socket and hands it over (--fd), with an
  // abstract address the kernel picks: nothing on the filesystem to make,
  // clean up, or let another user reach first.
  FileDescriptor listener{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  socklen_t length = sizeof(sa_family_t);  // autobind: a unique abstract name
  if (!listener.valid() || ::bind(listener.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0 ||
      ::listen(listener.get(), 1) != 0) {
    return Error{"cannot make virtiofsd's socket: " + std::string(std::strerror(errno))};
  }
  length = sizeof address;
  if (::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return Error{"cannot name virtiofsd's socket: " + std::string(std::strerror(errno))};
  }
  FileDescriptor connection{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!connection.valid() || ::connect(connection.get(), reinterpret_cast<const sockaddr*>(&address), length) != 0) {
    return Error{"cannot connect to virtiofsd's socket: " + std::string(std::strerror(errno))};
  }
  const std::vector<std::string> args{"--fd=" + std::to_string(listener.get()), "-o", std::string("source=") + kMountPoint,
                                      "-o", "cache=auto", "-o", "sandbox=namespace", "-o", "log_level=warn"};
  const pid_t pid = ::fork();
  if (pid < 0) return Error{"cannot start virtiofsd: " + std::string(std::strerror(errno))};
  if (pid == 0) exec_virtiofsd(binary, args, source, read_only, listener.get());
  // The listener is virtiofsd's now: should it die before it accepts, the
  // waiting connection is reset, and the first request fails at once.
  return VirtiofsdProcess{pid, std::move(connection)};
}

VirtiofsdProcess::VirtiofsdProcess(VirtiofsdProcess&& other) noexcept
    : pid_{other.pid_}, connection_{std::move(other.connection_)} {
  other.pid_ = -1;
}

VirtiofsdProcess::~VirtiofsdProcess() { stop(); }

void VirtiofsdProcess::stop() {
  if (pid_ <= 0) return;
  const pid_t pid = pid_;
  pid_ = -1;
  // After --user, ember may not signal the root-owned virtiofsd (EPERM):
  // then it ends when its socket closes, or with ember (PR_SET_PDEATHSIG).
  if (::kill(pid, SIGTERM) != 0) return;
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (::waitpid(pid, &status, WNOHANG) == pid) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  // SIGKILL, and a bounded wait: a process stuck in the kernel is left.
  if (::kill(pid, SIGKILL) != 0) return;
  for (int i = 0; i < 100 && ::waitpid(pid, &status, WNOHANG) != pid; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

}  // namespace ember::virtio
