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

// In the child, between fork and exec: only system calls.
[[noreturn]] void exec_virtiofsd(const std::string& binary, const std::vector<std::string>& args, const std::string& host_dir,
                                 bool read_only) {
  ::prctl(PR_SET_PDEATHSIG, SIGTERM);
  const int null = ::open("/dev/null", O_RDWR);
  if (null >= 0) ::dup2(null, STDIN_FILENO);
  if (read_only) {
    // A mount namespace of its own, where the shared directory is a
    // read-only bind mount of itself; virtiofsd's sandbox pivots into it.
    if (::unshare(CLONE_NEWNS) != 0 || ::mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::mount(host_dir.c_str(), host_dir.c_str(), nullptr, MS_BIND | MS_REC, nullptr) != 0 ||
        ::mount(nullptr, host_dir.c_str(), nullptr, MS_BIND | MS_REMOUNT | MS_RDONLY, nullptr) != 0) {
      const char message[] = "ember: cannot make the shared directory read-only for virtiofsd\n";
      (void)!::write(STDERR_FILENO, message, sizeof message - 1);
      ::_exit(126);
    }
  }
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

Result<VirtiofsdProcess> VirtiofsdProcess::start(const std::string& host_dir, bool read_only, const std::string& tag) {
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

  std::string directory = "/tmp/ember-share-XXXXXX";
  if (::mkdtemp(directory.data()) == nullptr) return Error{"cannot make a directory for virtiofsd's socket: " + std::string(std::strerror(errno))};
  const std::string socket_path = directory + "/" + tag + ".sock";
  const std::vector<std::string> args{"--socket-path=" + socket_path, "-o", "source=" + source, "-o", "cache=auto",
                                      "-o", "sandbox=namespace", "-o", "log_level=warn"};
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::rmdir(directory.c_str());
    return Error{"cannot start virtiofsd: " + std::string(std::strerror(errno))};
  }
  if (pid == 0) exec_virtiofsd(binary, args, source, read_only);
  return VirtiofsdProcess{pid, directory, socket_path};
}

VirtiofsdProcess::VirtiofsdProcess(VirtiofsdProcess&& other) noexcept
    : pid_{other.pid_}, directory_{std::move(other.directory_)}, socket_path_{std::move(other.socket_path_)} {
  other.pid_ = -1;
  other.directory_.clear();
}

VirtiofsdProcess::~VirtiofsdProcess() { stop(); }

Result<int> VirtiofsdProcess::connect(int timeout_ms) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path_.size() >= sizeof address.sun_path) return Error{"virtiofsd's socket path is too long"};
  std::memcpy(address.sun_path, socket_path_.c_str(), socket_path_.size());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      const int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return Error{"virtiofsd exited with status " + std::to_string(code) + " before it listened (its messages are above)"};
    }
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return Error{"cannot make a Unix socket: " + std::string(std::strerror(errno))};
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
      // virtiofsd takes one connection: the socket's file is done with,
      // and goes now, while ember may still remove files.
      remove_socket_directory();
      return fd;
    }
    ::close(fd);
    if (std::chrono::steady_clock::now() > deadline) {
      return Error{"virtiofsd did not listen on " + socket_path_ + " within " + std::to_string(timeout_ms / 1000) + " s"};
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void VirtiofsdProcess::stop() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int status = 0;
    bool reaped = false;
    for (int i = 0; i < 200 && !reaped; ++i) {
      reaped = ::waitpid(pid_, &status, WNOHANG) == pid_;
      if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (!reaped) {
      ::kill(pid_, SIGKILL);
      (void)::waitpid(pid_, &status, 0);
    }
    pid_ = -1;
  }
  remove_socket_directory();
}

void VirtiofsdProcess::remove_socket_directory() {
  if (directory_.empty()) return;
  ::unlink(socket_path_.c_str());
  ::rmdir(directory_.c_str());
  directory_.clear();
}

}  // namespace ember::virtio
