// ember's seccomp filters as BPF programs, compiled from
// security/seccomp_rules.cpp at build time (ember_seccomp_compiler writes
// the definitions into the build tree). security/seccomp_filters.cpp
// installs them.
#pragma once

#include <linux/filter.h>

#include <array>
#include <cstddef>
#include <cstdint>

namespace ember::seccomp {

enum class FilterKind {
  kProcess,           // every thread, once the machine is built
  kProcessWithVsock,  // the same, with the Unix sockets virtio-vsock's bridge uses
  kVcpu,              // what each VCPU thread adds for itself
};
inline constexpr size_t kFilterKinds = 3;

// The process filters allow tgkill only to ember's own threads, and ember's
// pid is known only when it runs: the compiled program compares the first
// argument against this value (no pid: Linux's pids stay below 2^22), which
// the installer replaces with getpid(). It appears exactly once in each
// process filter and never in the VCPU filter (the compiler checks).
inline constexpr uint32_t kOwnPidPlaceholder = 0x7eadbeef;
inline bool is_pid_placeholder(const sock_filter& instruction) {
  return instruction.code == (BPF_JMP | BPF_JEQ | BPF_K) && instruction.k == kOwnPidPlaceholder;
}

struct Program {
  const sock_filter* instructions;
  size_t             length;
};

// Indexed by FilterKind.
extern const std::array<Program, kFilterKinds> kPrograms;

// System call names by number, for the report of a call a filter refused
// (nullptr where x86-64 has none).
inline constexpr int kNamedSyscalls = 512;
extern const std::array<const char*, kNamedSyscalls> kSyscallNames;

}  // namespace ember::seccomp
