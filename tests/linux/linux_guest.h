// What the Linux tests share: the project's kernels and initramfs as the
// README's test command built them, and the command line that keeps a
// kernel away from what the kvm_pvm development host's KVM cannot emulate
// (README, "Tests"; harmless on every other KVM).
#pragma once

#include <string>

namespace ember::test {

#define EMBER_LINUX_OPTIONS "earlyprintk=serial noxsave clearcpuid=popcnt,smap,smep 8250.nr_uarts=1"
inline constexpr const char* kLinuxOptions = EMBER_LINUX_OPTIONS;  // without a console=
inline constexpr const char* kLinuxCmdline = "console=ttyS0 " EMBER_LINUX_OPTIONS;

inline std::string guest_vmlinux() { return std::string(EMBER_GUEST_KERNEL_DIR) + "/vmlinux"; }

}  // namespace ember::test
