// seccomp filters, installed before the guest's first instruction: one for
// the whole process and a narrower one each VCPU thread adds for itself.
// What they allow is in security/seccomp_rules.cpp, compiled to BPF with
// libseccomp when ember is built (security/seccomp_programs.h), so
// installing one is a single system call. A system call outside them stops ember at once with exit
// status kExitSeccompViolation (run/exit_codes.h) and a line naming the call: such a call is
// a bug in ember (or an attack on it), never something to retry.
#pragma once

#include <sys/types.h>

#include <string_view>

#include "base/result.h"
#include "run/exit_codes.h"

namespace ember {


// Sanitizer runtimes make system calls of their own (pipe2,
// sched_getaffinity, ...) that the filters rightly forbid, so sanitizer
// builds (scripts/test-sanitizers.sh) run without seccomp by default.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr bool kSeccompByDefault = false;
#else
inline constexpr bool kSeccompByDefault = true;
#endif

// Every thread of the process, now and later (SECCOMP_FILTER_FLAG_TSYNC):
// what the main, PIT, console-input and signal threads do once the machine
// is built. No open, exec or ptrace; sockets only with `vsock` (virtio-vsock
// connects to and accepts Unix sockets while the guest runs), and then only
// AF_UNIX ones, by argument filter. vhost-user backends (virtio-fs) need
// nothing more: replies are read with read(), requests go out through the
// FdCourier process (security/fd_courier.h), and ember's virtiofsd processes
// are stopped by their keepers (virtio/virtiofsd_process.h), which ember
// tells by closing a pipe.
struct ProcessFilterNeeds {
  bool vsock = false;
};
Status install_process_filter(const ProcessFilterNeeds& needs);

// glibc's malloc gives each new thread an arena of its own; past eight it
// counts the CPUs to size its limit (sched_getaffinity, malloc/arena.c),
// a call the filters do not allow. A fixed limit means it never asks.
// install_process_filter sets it too; main() sets it first, before any
// thread could make glibc compute its own.
Status limit_malloc_arenas();

// The calling VCPU thread, on top of the process filter: KVM ioctls, its
// timer, futexes, kicks, console writes and memory allocation.
Status install_vcpu_filter();

// The test suite's proof that the filters are live, on a filtered thread
// (EMBER_SECCOMP_SELF_TEST=WHICH, tests/kvm/privileges_test.cpp):
//   openat     what glibc's malloc does when a heap shrinks: must fail with
//              EACCES, ember runs on (a warning says what happened);
//   tiocsti    an ioctl outside KVM's, TIOCSTI on stdin;
//   fork       clone without CLONE_VM | CLONE_THREAD;
//   exec-mmap  an executable mapping;
//   sendmsg, kill, wait4: what vhost-user backends and virtiofsd once
//              needed, refused even with them (run as main:WHICH, on the main
//              thread, under the process filter alone: Machine::run);
//   anything else: getppid, a call no filter allows.
// All but openat must stop ember with kExitSeccompViolation.
void seccomp_self_test(std::string_view which);

}  // namespace ember
