// What the Linux tests share: the project's kernels and initramfs as the
// README's test command built them, and the command line that keeps a
// kernel away from what the kvm_pvm development host's KVM cannot emulate
// (README, "Tests"; harmless on every other KVM).
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "support/run_process.h"

namespace ember::test {

#define EMBER_LINUX_OPTIONS "earlyprintk=serial noxsave clearcpuid=popcnt,smap,smep 8250.nr_uarts=1"
inline constexpr const char* kLinuxOptions = EMBER_LINUX_OPTIONS;  // without a console=
inline constexpr const char* kLinuxCmdline = "console=ttyS0 " EMBER_LINUX_OPTIONS;

// Empty when this host's KVM runs user-mode SYSCALL correctly; otherwise
// why not (kvm_pvm: SYSCALL from CPL 3 stays at CPL 3, as the guest program
// tests/guests/user_syscall.c shows). Tests of Linux user space skip there,
// naming it, and must pass in the nested tier.
inline const std::string& syscall_limitation() {
  static const std::string limitation = [] {
    const auto probe = run_ember({"run", "--kernel", guest_program("user_syscall"), "--timeout", "30"});
    return probe.exit_code == 77 ? probe.out : std::string{};
  }();
  return limitation;
}

inline std::string guest_vmlinux() { return std::string(EMBER_GUEST_KERNEL_DIR) + "/vmlinux"; }

// A 16 MiB ext4 image holding `files` (path inside the image, text), made
// with mkfs.ext4 -d; returns its path, which the caller removes.
inline std::string make_ext4_image(const std::vector<std::pair<std::string, std::string>>& files) {
  char directory[] = "/tmp/ember-ext4-XXXXXX";
  if (::mkdtemp(directory) == nullptr) throw std::runtime_error("mkdtemp failed");
  const std::string root = directory;
  for (const auto& [path, text] : files) {
    const std::filesystem::path file = root + "/" + path;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream{file} << text;
  }
  const auto made = run_process({"/usr/sbin/mkfs.ext4", "-q", "-F", "-d", root, root + ".img", "16M"});
  std::filesystem::remove_all(root);
  if (made.exit_code != 0) throw std::runtime_error("mkfs.ext4 failed: " + made.err);
  return root + ".img";
}

}  // namespace ember::test
