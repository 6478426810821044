#include "security/seccomp_rules.h"

#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string>

namespace ember::seccomp {
namespace {

using Filter = std::unique_ptr<void, decltype(&seccomp_release)>;

// A system call allowed only with these arguments (several rules for one
// call: any of them), or answered with `action` instead.
struct Rule {
  const char*               name;
  std::vector<scmp_arg_cmp> arguments;
  uint32_t                  action = SCMP_ACT_ALLOW;
};

// The process filter: every thread of the process, now and later. I/O on
// descriptors already open, memory, threads, signals and time; no open,
// exec or ptrace (security/seccomp_filters.h says why each need is met).
const std::initializer_list<const char*> kProcessCalls = {
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
};

// The process filter's rules on arguments.
std::vector<Rule> process_rules() {
  return {
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
      // Signals to ember's own threads only (the placeholder becomes its pid).
      {"tgkill", {SCMP_A0(SCMP_CMP_EQ, kOwnPidPlaceholder)}},
      // Memory, never executable: ember maps no code once it runs.
      {"mmap", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}},
      {"mprotect", {SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)}},
  };
}

// virtio-vsock's bridge: Unix sockets only (socket's domain argument);
// geteuid and getsockopt (SO_PEERCRED): a host listener must belong to
// ember's own user (vsock_device.cpp).
std::vector<Rule> vsock_rules() {
  std::vector<Rule> rules{{"socket", {SCMP_A0(SCMP_CMP_EQ, AF_UNIX)}}};
  for (const char* name : {"connect", "accept4", "shutdown", "epoll_ctl", "sendto", "geteuid", "getsockopt"}) {
    rules.push_back({name, {}});
  }
  return rules;
}

// The calling VCPU thread, on top of the process filter: KVM ioctls, its
// timer, futexes, kicks, console writes and memory allocation.
const std::initializer_list<const char*> kVcpuCalls = {
    "ioctl", "write", "futex", "rt_sigreturn", "rt_sigprocmask", "timer_settime", "timer_gettime", "timer_delete",
    "tgkill", "getpid", "gettid", "clock_gettime", "sched_yield", "restart_syscall",
    "mmap", "munmap", "mprotect", "madvise", "brk", "mremap", "exit", "exit_group",
};

Status add_rule(void* filter, const Rule& rule) {
  const int nr = seccomp_syscall_resolve_name(rule.name);
  if (nr == __NR_SCMP_ERROR) return Error{std::string("libseccomp does not know system call ") + rule.name};
  if (seccomp_rule_add_array(filter, rule.action, nr, static_cast<unsigned>(rule.arguments.size()), rule.arguments.data()) != 0) {
    return Error{std::string("cannot add a rule for ") + rule.name};
  }
  return {};
}

// The program libseccomp generates for `filter`.
Result<std::vector<sock_filter>> export_program(void* filter) {
  // seccomp_export_bpf writes to a descriptor: a pipe would need a reader
  // beside it, a memfd does not.
  const int file = ::memfd_create("seccomp-bpf", MFD_CLOEXEC);
  if (file < 0) return Error{std::string("memfd_create: ") + std::strerror(errno)};
  const auto close_file = [file] { ::close(file); };
  if (const int rc = seccomp_export_bpf(filter, file); rc != 0) {
    close_file();
    return Error{std::string("seccomp_export_bpf: ") + std::strerror(-rc)};
  }
  const off_t size = ::lseek(file, 0, SEEK_END);
  if (size <= 0 || size % static_cast<off_t>(sizeof(sock_filter)) != 0) {
    close_file();
    return Error{"libseccomp exported a program of " + std::to_string(size) + " bytes"};
  }
  std::vector<sock_filter> program(static_cast<size_t>(size) / sizeof(sock_filter));
  const bool read_all = ::pread(file, program.data(), static_cast<size_t>(size), 0) == size;
  close_file();
  if (!read_all) return Error{"cannot read back libseccomp's program"};
  return program;
}

}  // namespace

Result<std::vector<sock_filter>> compile(FilterKind kind) {
  Filter filter{seccomp_init(SCMP_ACT_TRAP), &seccomp_release};
  if (!filter) return Error{"seccomp_init failed"};
  std::vector<Rule> rules;
  for (const char* name : kind == FilterKind::kVcpu ? kVcpuCalls : kProcessCalls) rules.push_back({name, {}});
  if (kind != FilterKind::kVcpu) {
    for (auto& rule : process_rules()) rules.push_back(std::move(rule));
  }
  if (kind == FilterKind::kProcessWithVsock) {
    for (auto& rule : vsock_rules()) rules.push_back(std::move(rule));
  }
  // ember opens nothing once it runs, but glibc's malloc does, on its own:
  // the first time a thread's arena shrinks it reads
  // /proc/sys/vm/overcommit_memory (malloc/arena.c, check_may_shrink_heap).
  // Answering EACCES instead of stopping ember makes glibc take the safe
  // default; nothing can be opened either way. Both filters say so, because
  // for a VCPU thread the stricter of its two filters' actions wins.
  rules.push_back({"open", {}, SCMP_ACT_ERRNO(EACCES)});
  rules.push_back({"openat", {}, SCMP_ACT_ERRNO(EACCES)});
  for (const Rule& rule : rules) {
    if (auto added = add_rule(filter.get(), rule); !added) return added.error();
  }
  return export_program(filter.get());
}

}  // namespace ember::seccomp
