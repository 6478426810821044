// Parsing and validating ember's command line. This is the one place user
// input is checked: whatever passes is a well-formed MachineConfig.
#pragma once

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "machine/machine_config.h"

namespace ember::cli {

enum class Command { Run, Snapshot, Help, RunHelp, Version };

struct Invocation {
  Command                                  command = Command::Help;
  MachineConfig                            machine;
  std::optional<std::chrono::milliseconds> timeout;
  // `ember run ... -- COMMAND [ARGS]`: the command the project's initramfs
  // runs in the guest; its exit status becomes ember's.
  std::vector<std::string>                 guest_command;
  // --report json: a JSON line on stderr at the end of the run.
  bool                                     report_json = false;
  // --dump-dtb PATH: write the machine's device tree there instead of running.
  std::string                              dump_dtb_path;
  // --root-share: the host's / (share kRootShareTag) is the command's root.
  bool                                     root_share = false;
};

// The tag --root-share gives the host's /.
inline constexpr const char* kRootShareTag = "root";

// The kernel command-line word that carries a guest command to the
// initramfs' init: `ember.command=` and the hex of the shell-quoted words,
// so spaces, quotes and any byte survive the kernel's parsing.
std::string guest_command_parameter(const std::vector<std::string>& words);

// `args` excludes argv[0]. Errors are usage errors (exit status 2).
Result<Invocation> parse_arguments(std::span<const std::string_view> args);

// One option of `ember run`: the parser and --help both read this table,
// so an option, its help and its checks cannot drift apart.
struct Option {
  std::string_view name;         // "--kernel"
  std::string_view value_name;   // "PATH", for the help; empty: the option takes no value
  bool             repeatable;
  std::string_view help;         // lines of at most 56 columns
  Status (*apply)(Invocation& invocation, std::string_view value);  // checks the value, then records it

  bool takes_value() const { return !value_name.empty(); }
};
std::span<const Option> run_options();

inline constexpr uint64_t kMinimumMemory = 4ull << 20;
inline constexpr uint64_t kMaximumMemory = 1ull << 40;
inline constexpr uint32_t kMaximumCpus   = 254;  // xAPIC IDs are 8 bits and 0xff is broadcast
inline constexpr const char* kDefaultCmdline = "console=ttyS0 reboot=k panic=-1";
inline constexpr const char* kDefaultVirtioConsoleCmdline = "console=hvc0 reboot=k panic=-1";  // with --console virtio

}  // namespace ember::cli
