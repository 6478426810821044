#include "security/seccomp_filters.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <malloc.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "base/log.h"

namespace ember {
namespace {

constexpr int kMallocArenas = 8;

// Names for the violation report, resolved while installing: the SIGSYS
// handler must not allocate.
constexpr int kNamedSyscalls = 512;
std::array<const char*, kNamedSyscalls> g_syscall_names{};

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
  const char* name = info->si_syscall >= 0 && info->si_syscall < kNamedSyscalls ? g_syscall_names[static_cast<size_t>(info->si_syscall)]
                                                                                 : nullptr;
  write_all("ember: error: seccomp stopped ember: system call ");
  write_all(number);
  write_all(" (");
  write_all(name != nullptr ? name : "unknown");
  write_all(") is outside its filter; this is a bug in ember, please report it\n");
  ::_exit(kExitSeccompViolation);
}

Status install_sigsys_reporter() {
  for (int nr = 0; nr < kNamedSyscalls; ++nr) {
    if (g_syscall_names[static_cast<size_t>(nr)] == nullptr) {
      g_syscall_names[static_cast<size_t>(nr)] = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);  // kept for good
    }
  }
  struct sigaction action {};
  action.sa_sigaction = on_sigsys;
  action.sa_flags = SA_SIGINFO;
  sigemptyset(&action.sa_mask);
  if (::sigaction(SIGSYS, &action, nullptr) != 0) return Error{std::string("cannot handle SIGSYS: ") + std::strerror(errno)};
  return {};
}

using Filter = std::unique_ptr<void, decltype(&seccomp_release)>;

// A system call allowed only with these arguments (several rules for one
// call: any of them), or answered with `action` instead.
struct Rule {
  const char*                 name;
  std::vector<scmp_arg_cmp>   arguments;
  uint32_t                    action = SCMP_ACT_ALLOW;
};

Status add_rule(void* filter, const Rule& rule, const char* which) {
  const int nr = seccomp_syscall_resolve_name(rule.name);
  if (nr == __NR_SCMP_ERROR) return Error{std::string("seccomp does not know system call ") + rule.name};
  if (seccomp_rule_add_array(filter, rule.action, nr, static_cast<unsigned>(rule.arguments.size()), rule.arguments.data()) != 0) {
    return Error{std::string("cannot add a rule for ") + rule.name + " to the " + which + " seccomp filter"};
  }
  return {};
}

Status install(std::initializer_list<const char*> allowed, bool all_threads, const char* which, bool unix_sockets = false,
               std::vector<Rule> rules = {}) {
  Filter filter{seccomp_init(SCMP_ACT_TRAP), &seccomp_release};
  if (!filter) return Error{std::string("cannot build the ") + which + " seccomp filter"};
  for (const char* name : allowed) {
    if (auto added = add_rule(filter.get(), {name, {}}, which); !added) return added;
  }
  for (const Rule& rule : rules) {
    if (auto added = add_rule(filter.get(), rule, which); !added) return added;
  }
  // ember opens nothing once it runs, but glibc's malloc does, on its own:
  // the first time a thread's arena shrinks it reads
  // /proc/sys/vm/overcommit_memory (malloc/arena.c, check_may_shrink_heap).
  // Answering EACCES instead of stopping ember makes glibc take the safe
  // default; nothing can be opened either way. Both filters say so, because
  // for a VCPU thread the stricter of its two filters' actions wins.
  for (const char* name : {"open", "openat"}) {
    if (auto added = add_rule(filter.get(), {name, {}, SCMP_ACT_ERRNO(EACCES)}, which); !added) return added;
  }
  if (unix_sockets) {
    // virtio-vsock's bridge: Unix sockets only (socket's domain argument).
    if (auto added = add_rule(filter.get(), {"socket", {SCMP_A0(SCMP_CMP_EQ, AF_UNIX)}}, which); !added) return added;
    // geteuid, getsockopt (SO_PEERCRED): a host listener must belong to
    // ember's own user (vsock_device.cpp).
    for (const char* name : {"connect", "accept4", "shutdown", "epoll_ctl", "sendto", "geteuid", "getsockopt"}) {
      if (auto added = add_rule(filter.get(), {name, {}}, which); !added) return added;
    }
  }
  // no_new_privs is already set (security/privileges.h), so libseccomp need
  // not call prctl, which the filters do not allow.
  if (seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_NNP, 0) != 0) return Error{"cannot configure the seccomp filter"};
  if (all_threads && seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_TSYNC, 1) != 0) {
    return Error{std::string("cannot apply the ") + which + " seccomp filter to every thread"};
  }
  if (const int rc = seccomp_load(filter.get()); rc != 0) {
    return Error{std::string("cannot install the ") + which + " seccomp filter: " + std::strerror(-rc)};
  }
  return {};
}

}  // namespace

Status limit_malloc_arenas() {
  // Threads beyond the limit share arenas, which costs ember nothing: its
  // threads allocate rarely.
  if (::mallopt(M_ARENA_MAX, kMallocArenas) != 1) return Error{"cannot set glibc's malloc arena limit"};
  return {};
}

// The process filter's rules on arguments.
std::vector<Rule> process_rules() {
  std::vector<Rule> rules{
      // ioctl: KVM's (type 0xAE), TUNSETOFFLOAD (virtio-net features,
          // set when the guest negotiates) and TCGETS (glibc's isatty for a
          // stdio stream on a terminal). No other, so no TIOCSTI: a
          // compromised ember cannot type into the terminal it runs in.
          {"ioctl", {SCMP_A1(SCMP_CMP_MASKED_EQ, 0xff00, uint64_t{KVMIO} << 8)}},
          {"ioctl", {SCMP_A1(SCMP_CMP_EQ, TUNSETOFFLOAD)}},
          {"ioctl", {SCMP_A1(SCMP_CMP_EQ, TCGETS)}},
          // Threads only: clone must share the address space and join the
          // thread group, so no new process. clone3 passes its flags in
          // memory, out of a filter's reach: it answers ENOSYS, and glibc
          // falls back to clone.
          {"clone", {SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_VM | CLONE_THREAD, CLONE_VM | CLONE_THREAD)}},
          {"clone3", {}, SCMP_ACT_ERRNO(ENOSYS)},
          // Signals to ember's own threads only.
          {"tgkill", {SCMP_A0(SCMP_CMP_EQ, static_cast<uint64_t>(::getpid()))}},
          // Memory, never executable: ember maps no code once it runs.
          {"mmap", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}},
          {"mprotect", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}},
  };
  return rules;
}

Status install_process_filter(const ProcessFilterNeeds& needs) {
  if (auto reporter = install_sigsys_reporter(); !reporter) return reporter;
  // ember with 16 VCPUs stopped with 122 before this (sched_getaffinity).
  if (auto limited = limit_malloc_arenas(); !limited) return limited;
  return install(
      {
          // I/O on descriptors already open: console, stdin, eventfd, KVM
          "read", "write", "close", "poll", "ppoll", "fstat", "newfstatat", "lseek",
          // virtio-console input into guest buffers, virtio-net frames to and from the TAP device
          "readv", "writev",
          // virtio workers: disk I/O on the open image, entropy for virtio-rng
          "preadv", "pwritev", "pread64", "pwrite64", "fdatasync", "fallocate", "getrandom",
          // memory: malloc, thread stacks, guest RAM accounting
          "munmap", "madvise", "brk", "mremap", "mincore",
          // threads and their synchronisation
          "set_robust_list", "rseq", "futex", "exit", "exit_group", "sched_yield", "gettid", "getpid",
          // signals: kicks, the stop signals, timers
          "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigtimedwait", "sigaltstack",
          "restart_syscall", "timer_create", "timer_settime", "timer_gettime", "timer_delete",
          // time
          "clock_gettime", "clock_nanosleep", "nanosleep", "getrusage", "eventfd2",
          // each VCPU thread adds its own, narrower filter
          "seccomp",
      },
      true, "process", needs.vsock, process_rules());
}

Status install_vcpu_filter() {
  return install(
      {
          "ioctl", "write", "futex", "rt_sigreturn", "rt_sigprocmask", "timer_settime", "timer_gettime", "timer_delete",
          "tgkill", "getpid", "gettid", "clock_gettime", "sched_yield", "restart_syscall",
          "mmap", "munmap", "mprotect", "madvise", "brk", "mremap", "exit", "exit_group",
      },
      false, "VCPU");
}

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
