// What ember's seccomp filters allow, as libseccomp rules, and their
// compilation to BPF. Used at build time only: ember_seccomp_compiler turns
// each filter into a BPF program that ember embeds (security/seccomp_programs.h)
// and installs with one system call, so ember builds no filter while it
// starts (about 15 ms of a 170 ms restore in the nested tier, bench/README).
#pragma once

#include <linux/filter.h>

#include <vector>

#include "base/result.h"
#include "security/seccomp_programs.h"

namespace ember::seccomp {

// The filter's BPF program, as the seccomp system call takes it.
Result<std::vector<sock_filter>> compile(FilterKind kind);

}  // namespace ember::seccomp
