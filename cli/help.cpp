#include "cli/help.h"

#include <string>
#include <string_view>

#include "cli/arguments.h"

namespace ember::cli {

const char* const kUsage = R"(ember: a KVM virtual machine monitor for booting guests from the command line

Usage:
  ember run --kernel PATH [options]   boot a guest (see 'ember run --help')
  ember run --kernel PATH --initrd INITRAMFS [options] -- COMMAND [ARGS]
                                      boot, run COMMAND in the guest, exit with its status
  ember snapshot --kernel PATH --initrd INITRAMFS --out DIR [options]
                                      boot until init is ready, save the machine in DIR
  ember run --restore DIR [--disk ...] [--net ...] [--vsock ...] [-- COMMAND [ARGS]]
                                      run COMMAND in a fresh copy of DIR's machine
  ember --help                        this text
  ember --version                     print the version

Exit status of 'ember run':
  N     the guest wrote N to the exit port (I/O port 0xf4); with
        --exit-device qemu, the guest wrote V and N is (V << 1) | 1
  0     the guest reset or powered off the machine
  1     host setup error: no /dev/kvm, a missing or unusable file
  2     usage error: a bad option or value
  123   -- COMMAND given, but the guest stopped before reporting its status
        (a kernel panic reboots it: ember adds panic=-1 if absent)
  124   --timeout expired (stderr says where each VCPU was: its RIP, IF and LAPIC)
  122   ember's seccomp filter stopped it (a bug in ember; the system call
        is named on stderr)
  125   the guest crashed: triple fault, KVM internal error, every VCPU
        halted with interrupts off (register dump on stderr)
  128+S ember was stopped by signal S (SIGINT, SIGTERM, SIGHUP; stderr
        says where each VCPU was, as for 124, or that the guest never ran
        when the signal came during start-up)
)";

namespace {

constexpr const char* kRunIntroduction = R"(Usage: ember run --kernel PATH [options] [-- COMMAND [ARGS]]

Boots PATH, which may be:
  a Linux bzImage          64-bit boot protocol (2.12 or later)
  a multiboot kernel       ELF or flat image with a multiboot (v1) header in its
                           first 8 KiB; entered in 32-bit protected mode with
                           EAX = 0x2BADB002, EBX = the multiboot information
                           (memory map, command line, modules), as
                           qemu-system-x86_64 -kernel and GRUB start it
  an ELF vmlinux           entered through its PVH note when it has one
  any other ELF64 program  entered at e_entry in 64-bit mode, RSI = boot_params

Options (each at most once unless said; --opt VALUE and --opt=VALUE both work):
)";

constexpr const char* kRunCommandNotes = R"(
With '-- COMMAND [ARGS]', ember boots the kernel with its initramfs (built by
scripts/build-initramfs.sh; --initrd is required), whose init runs COMMAND
with the guest's sh, shows its output on the console and makes ember exit
with COMMAND's exit status. The command reaches the guest hex-encoded in the
kernel parameter ember.command=, so it counts against the kernel command
line's length limit.

Exit status: see 'ember --help'.
)";

// The options block, from the option table: the name and value, then the
// help from column 21, on the same line when they leave room.
std::string options_help() {
  constexpr size_t kHelpColumn = 21;
  std::string text;
  for (const Option& option : run_options()) {
    std::string head = "  " + std::string(option.name);
    if (!option.value_name.empty()) head += " " + std::string(option.value_name);
    std::string_view help = option.help;
    bool first = true;
    while (!help.empty()) {
      const auto end = help.find('\n');
      const std::string_view line = help.substr(0, end);
      if (first && head.size() + 2 <= kHelpColumn) {
        text += head + std::string(kHelpColumn - head.size(), ' ');
      } else {
        if (first) text += head + "\n";
        text += std::string(kHelpColumn, ' ');
      }
      text += std::string(line) + "\n";
      first = false;
      help = end == std::string_view::npos ? std::string_view{} : help.substr(end + 1);
    }
    if (first) text += head + "\n";
  }
  return text + "  -h, --help" + std::string(kHelpColumn - 12, ' ') + "this text\n";
}

}  // namespace

std::string run_usage() { return kRunIntroduction + options_help() + kRunCommandNotes; }

}  // namespace ember::cli
