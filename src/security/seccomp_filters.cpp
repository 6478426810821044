#include "security/seccomp_filters.h"

#include <fcntl.h>
#include <linux/seccomp.h>
#include <malloc.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "base/log.h"
#include "security/seccomp_programs.h"

namespace ember {
namespace {

constexpr int kMallocArenas = 8;

void write_all(const char* text) {
  size_t left = std::strlen(text);
  while (left > 0) {
    const ssize_t done = ::write(STDERR_FILENO, text, left);
    if (done <= 0) return;
    text += done;
    left -= static_cast<size_t>(done);
  }
}

void on_sigsys(int, siginfo_t* info, void*) {
  // Async-signal-safe only: write() and _exit().
  char number[16];
  int value = info->si_syscall, digits = 0;
  char reversed[16];
  do {
    reversed[digits++] = static_cast<char>('0' + value % 10);
    value /= 10;
  } while (value > 0 && digits < 15);
  for (int i = 0; i < digits; ++i) number[i] = reversed[digits - 1 - i];
  number[digits] = '\0';
  const char* name = info->si_syscall >= 0 && info->si_syscall < seccomp::kNamedSyscalls
                         ? seccomp::kSyscallNames[static_cast<size_t>(info->si_syscall)]
                         : nullptr;
  write_all("ember: error: seccomp stopped ember: system call ");
  write_all(number);
  write_all(" (");
  write_all(name != nullptr ? name : "unknown");
  write_all(") is outside its filter; this is a bug in ember, please report it\n");
  ::_exit(kExitSeccompViolation);
}

Status install_sigsys_reporter() {
  struct sigaction action {};
  action.sa_sigaction = on_sigsys;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGSYS, &action, nullptr) != 0) return Error{std::string("cannot handle SIGSYS: ") + std::strerror(errno)};
  return {};
}

// Installs one of the compiled programs (security/seccomp_programs.h): on
// every thread of the process for the process filters, on the calling
// thread for the VCPU filter. no_new_privs is already set
// (security/privileges.h), as the seccomp system call requires.
Status install(seccomp::FilterKind kind, const char* which) {
  const seccomp::Program& program = seccomp::kPrograms[static_cast<size_t>(kind)];
  std::vector<sock_filter> instructions(program.instructions, program.instructions + program.length);
  const bool whole_process = kind != seccomp::FilterKind::kVcpu;
  if (whole_process) {
    size_t patched = 0;
    for (sock_filter& instruction : instructions) {
      if (!seccomp::is_pid_placeholder(instruction)) continue;
      instruction.k = static_cast<uint32_t>(::getpid());
      ++patched;
    }
    if (patched != 1) return Error{std::string("the ") + which + " seccomp filter has no single place for ember's pid"};
  }
  const sock_fprog filter{static_cast<unsigned short>(instructions.size()), instructions.data()};
  const long rc = ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, whole_process ? SECCOMP_FILTER_FLAG_TSYNC : 0, &filter);
  if (rc > 0) return Error{std::string("cannot apply the ") + which + " seccomp filter to thread " + std::to_string(rc)};
  if (rc < 0) return Error{std::string("cannot install the ") + which + " seccomp filter: " + std::strerror(errno)};
  return {};
}

}  // namespace

Status limit_malloc_arenas() {
  // Threads beyond the limit share arenas, which costs ember nothing: its
  // threads allocate rarely.
  if (::mallopt(M_ARENA_MAX, kMallocArenas) != 1) return Error{"cannot set glibc's malloc arena limit"};
  return {};
}

Status install_process_filter(const ProcessFilterNeeds& needs) {
  if (auto reporter = install_sigsys_reporter(); !reporter) return reporter;
  // ember with 16 VCPUs stopped with 122 before this (sched_getaffinity).
  if (auto limited = limit_malloc_arenas(); !limited) return limited;
  return install(needs.vsock ? seccomp::FilterKind::kProcessWithVsock : seccomp::FilterKind::kProcess, "process");
}

Status install_vcpu_filter() { return install(seccomp::FilterKind::kVcpu, "VCPU"); }

void seccomp_self_test(std::string_view which) {
  // Each call below that the filters let through is reported, so a test
  // sees a filter that is too wide as well as one that is missing.
  const auto report = [which](bool refused) {
    log::warning("seccomp self-test: " + std::string(which) + (refused ? " refused" : " not refused"));
  };
  if (which == "openat") {
    const int fd = ::openat(AT_FDCWD, "/proc/sys/vm/overcommit_memory", O_RDONLY | O_CLOEXEC);
    const bool refused = fd < 0 && errno == EACCES;
    if (fd >= 0) ::close(fd);
    log::warning(std::string("seccomp self-test: openat ") + (refused ? "refused with EACCES" : "not refused"));
  } else if (which == "tiocsti") {
    char nothing = 0;
    report(::ioctl(STDIN_FILENO, TIOCSTI, &nothing) != 0);
  } else if (which == "fork") {
    const long child = ::syscall(SYS_clone, SIGCHLD, 0, nullptr, nullptr, 0);
    if (child == 0) ::_exit(0);  // a filter that let it through: the child goes at once
    report(child < 0);
  } else if (which == "exec-mmap") {
    void* code = ::mmap(nullptr, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (code != MAP_FAILED) ::munmap(code, 4096);
    report(code == MAP_FAILED);
  } else if (which == "sendmsg") {
    msghdr nothing{};
    ::sendmsg(-1, &nothing, 0);
  } else if (which == "kill") {
    ::kill(1, 0);
  } else if (which == "wait4") {
    ::waitpid(-1, nullptr, WNOHANG);
  } else {
    ::syscall(SYS_getppid);
  }
}

}  // namespace ember
