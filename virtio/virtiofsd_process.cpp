#include "virtio/virtiofsd_process.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "base/wait_ready.h"

namespace ember::virtio {
namespace {

// In the keeper and its child. ember has started no thread yet
// (Machine::create forks before its first), so allocating here is safe.
// The directory virtiofsd shares, in its own mount namespace: a tmpfs of
// that namespace's own holds the mount point, so nothing is made or left
// in ember's filesystem.
constexpr const char* kMountPoint = "/tmp/ember-share";

[[noreturn]] void exec_virtiofsd(const std::string& binary, const std::vector<std::string>& args, const std::string& host_dir,
                                 bool read_only, int listener) {
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);  // the keeper's death
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

// Whether `child` has exited, waiting up to `limit`; it stays unreaped, so
// its pid (its process group's id) cannot be reused meanwhile.
bool exited_within(pid_t child, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    siginfo_t info{};
    if (::waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOHANG | WNOWAIT) == 0 && info.si_pid == child) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

// virtiofsd's process group: with its namespace sandbox it forks, and the
// child serves while the parent waits. SIGKILL for whatever of the group is
// left (a stopped process keeps a SIGTERM pending, and ignores PDEATHSIG),
// then the parent is reaped.
void end_group(pid_t child) {
  ::kill(-child, SIGKILL);
  (void)exited_within(child, std::chrono::seconds(1));
  ::waitpid(child, nullptr, WNOHANG);
}

// The keeper: starts virtiofsd, then waits for ember to close `stop_request`
// (or to die), stops virtiofsd and exits, which closes `done`.
[[noreturn]] void run_keeper(const std::string& binary, const std::vector<std::string>& args, const std::string& host_dir,
                             bool read_only, int listener, int stop_request, int done) {
  ::prctl(PR_SET_NAME, "ember-keeper");
  // ember's stop signals are not the keeper's: ember tells it through the
  // pipe (a Ctrl-C reaches the whole process group, and ember stops
  // virtiofsd itself). It is forked before ember blocks them (Machine::create).
  for (const int stop_signal : {SIGINT, SIGTERM, SIGHUP}) ::signal(stop_signal, SIG_IGN);
  // Nothing of ember's but stdio, the pipes and virtiofsd's socket.
  int keep[] = {STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO, listener, stop_request, done};
  close_descriptors_except(keep, sizeof keep / sizeof keep[0]);
  const pid_t child = ::fork();
  if (child < 0) ::_exit(1);
  if (child == 0) {
    ::setpgid(0, 0);  // a group of its own, which the keeper can end whole
    // Ignored signals stay ignored across exec: virtiofsd gets the defaults
    // back, but SIGTTOU stays ignored, so a background group writing to the
    // terminal (stty tostop) is not stopped.
    for (const int stop_signal : {SIGINT, SIGTERM, SIGHUP}) ::signal(stop_signal, SIG_DFL);
    ::signal(SIGTTOU, SIG_IGN);
    ::close(stop_request);
    ::close(done);
    exec_virtiofsd(binary, args, host_dir, read_only, listener);
  }
  ::setpgid(child, child);  // as the child does: whichever runs first
  ::close(listener);
  // The stop request, and virtiofsd's exit (a pidfd, readable once it
  // exits) until it is reaped: virtiofsd may end first (killed, or failed
  // to start).
  FileDescriptor exited_fd{static_cast<int>(::syscall(SYS_pidfd_open, child, 0))};
  bool ended = false;
  for (;;) {
    pollfd ready[] = {{stop_request, POLLIN, 0}, {ended ? -1 : exited_fd.get(), POLLIN, 0}};
    // Without pidfds (Linux before 5.3) it looks every 100 ms.
    const int got = ::poll(ready, 2, ended || exited_fd.valid() ? -1 : 100);
    if (got < 0 && errno == EINTR) continue;
    if (got > 0 && ready[0].revents != 0) break;  // end of file: ember closed its end or died
    if (!ended && exited_within(child, std::chrono::milliseconds(0))) {
      end_group(child);
      ended = true;
    }
  }
  if (!ended) {
    ::kill(-child, SIGTERM);
    (void)exited_within(child, std::chrono::seconds(2));
    end_group(child);
  }
  ::_exit(0);
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
  int stop_pipe[2], done_pipe[2];
  if (::pipe2(stop_pipe, O_CLOEXEC) != 0) return Error{"cannot make virtiofsd's keeper a pipe: " + std::string(std::strerror(errno))};
  FileDescriptor stop_read{stop_pipe[0]}, stop_write{stop_pipe[1]};
  if (::pipe2(done_pipe, O_CLOEXEC) != 0) return Error{"cannot make virtiofsd's keeper a pipe: " + std::string(std::strerror(errno))};
  FileDescriptor done_read{done_pipe[0]}, done_write{done_pipe[1]};
  const pid_t keeper = ::fork();
  if (keeper < 0) return Error{"cannot start virtiofsd: " + std::string(std::strerror(errno))};
  if (keeper == 0) run_keeper(binary, args, source, read_only, listener.get(), stop_read.get(), done_write.get());
  // The listener is virtiofsd's now: should it die before it accepts, the
  // waiting connection is reset, and the first request fails at once.
  return VirtiofsdProcess{keeper, std::move(connection), std::move(stop_write), std::move(done_read)};
}

VirtiofsdProcess::VirtiofsdProcess(VirtiofsdProcess&& other) noexcept
    : keeper_pid_{other.keeper_pid_},
      connection_{std::move(other.connection_)},
      stop_request_{std::move(other.stop_request_)},
      done_{std::move(other.done_)} {
  other.keeper_pid_ = -1;
}

VirtiofsdProcess::~VirtiofsdProcess() { stop(); }

void VirtiofsdProcess::request_stop() { stop_request_.reset(); }

void VirtiofsdProcess::wait_stopped(std::chrono::steady_clock::time_point deadline) {
  // The keeper needs at most 3 s; it is not ember's to reap (no wait4 under
  // seccomp), and exits on its own.
  while (done_.valid() && wait_ready(done_.get(), POLLIN, deadline) == Readiness::kReady) {
    char byte;
    const ssize_t got = ::read(done_.get(), &byte, 1);  // the keeper writes nothing: end of file
    if (got == 0 || (got < 0 && errno != EINTR)) break;
  }
  done_.reset();
}

void VirtiofsdProcess::stop() {
  request_stop();
  wait_stopped(std::chrono::steady_clock::now() + kStopWait);
}

}  // namespace ember::virtio
