#include "cli/arguments.h"

#include <algorithm>
#include <set>
#include <string>

#include "base/strings.h"
#include "memory/memory_map.h"
#include "virtio/mmio_slots.h"

namespace ember::cli {
namespace {

Result<uint64_t> parse_memory(std::string_view text) {
  const auto bytes = parse_size(text);
  if (!bytes) return Error{"--memory '" + std::string(text) + "' is not a size (examples: 256M, 1G, 512 meaning MiB)"};
  if (*bytes == 0) return Error{"--memory must be greater than zero"};
  if (*bytes % kPageSize != 0) return Error{"--memory " + std::string(text) + " is not a multiple of 4 KiB"};
  if (*bytes < kMinimumMemory) return Error{"--memory must be at least " + format_size(kMinimumMemory)};
  if (*bytes > kMaximumMemory) return Error{"--memory must be at most " + format_size(kMaximumMemory)};
  return *bytes;
}

Result<uint32_t> parse_cpus(std::string_view text) {
  const auto count = parse_decimal(text);
  if (!count) return Error{"--cpus '" + std::string(text) + "' is not a whole number"};
  if (*count == 0) return Error{"--cpus must be at least 1"};
  if (*count > kMaximumCpus) return Error{"--cpus must be at most " + std::to_string(kMaximumCpus)};
  return static_cast<uint32_t>(*count);
}

Result<ConsoleConfig> parse_console(std::string_view text) {
  if (text == "stdio") return ConsoleConfig{ConsoleConfig::Kind::Stdio, {}};
  if (text == "none") return ConsoleConfig{ConsoleConfig::Kind::None, {}};
  if (text == "virtio") return ConsoleConfig{ConsoleConfig::Kind::Virtio, {}};
  if (text.starts_with("file:") && text.size() > 5) return ConsoleConfig{ConsoleConfig::Kind::File, std::string(text.substr(5))};
  return Error{"--console '" + std::string(text) + "' is not one of stdio, virtio, file:PATH, none"};
}

// "UID:GID", both decimal.
Result<RunAsConfig> parse_user(std::string_view text) {
  const auto bad = Error{"--user '" + std::string(text) + "' is not UID:GID (numbers, e.g. 65534:65534)"};
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return bad;
  const auto uid = parse_decimal(text.substr(0, colon));
  const auto gid = parse_decimal(text.substr(colon + 1));
  if (!uid || !gid || *uid > 0xfffffffe || *gid > 0xfffffffe) return bad;
  return RunAsConfig{static_cast<uint32_t>(*uid), static_cast<uint32_t>(*gid)};
}

Result<ExitDevice> parse_exit_device(std::string_view text) {
  if (text == "ember") return ExitDevice::Ember;
  if (text == "qemu") return ExitDevice::Qemu;
  return Error{"--exit-device '" + std::string(text) + "' is not one of ember, qemu"};
}

// "name=NAME,file=PATH" or "name=NAME,string=TEXT", as QEMU's -fw_cfg; the
// file path or text is everything after its '=', commas included.
Result<FwCfgFileConfig> parse_fw_cfg(std::string_view text) {
  const auto bad = Error{"--fw-cfg '" + std::string(text) + "' is not name=NAME,file=PATH or name=NAME,string=TEXT"};
  if (!text.starts_with("name=")) return bad;
  const auto comma = text.find(',');
  if (comma == std::string_view::npos) return bad;
  FwCfgFileConfig file{std::string(text.substr(5, comma - 5)), {}, {}};
  const auto rest = text.substr(comma + 1);
  if (rest.starts_with("file=") && rest.size() > 5) {
    file.path = rest.substr(5);
  } else if (rest.starts_with("string=")) {
    file.text = rest.substr(7);
  } else {
    return bad;
  }
  if (file.name.empty() || file.name.size() > 55) return Error{"--fw-cfg name '" + file.name + "' must have 1 to 55 characters"};
  return file;
}

// "PATH[,ro][,queues=N]": a virtio-blk disk. The path ends at the first comma.
Result<DiskConfig> parse_disk(std::string_view text) {
  const auto comma = text.find(',');
  DiskConfig disk{std::string(text.substr(0, comma)), false, 1};
  if (disk.path.empty()) return Error{"--disk '" + std::string(text) + "' needs a path (PATH[,ro][,queues=N])"};
  std::string_view rest = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  while (!rest.empty()) {
    const auto next = rest.find(',');
    const std::string_view option = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
    if (option == "ro") {
      disk.read_only = true;
    } else if (option.starts_with("queues=")) {
      const auto queues = parse_decimal(option.substr(7));
      if (!queues || *queues < 1 || *queues > 16) return Error{"--disk queues='" + std::string(option.substr(7)) + "' is not 1 to 16"};
      disk.queues = static_cast<uint16_t>(*queues);
    } else {
      return Error{"--disk option '" + std::string(option) + "' is not ro or queues=N"};
    }
  }
  return disk;
}

// "52:54:00:12:34:56": six hex bytes, unicast (§5.1.4: the device's own address).
std::optional<std::array<uint8_t, 6>> parse_mac(std::string_view text) {
  std::array<uint8_t, 6> mac{};
  if (text.size() != 17) return std::nullopt;
  for (size_t i = 0; i < 6; ++i) {
    if (i > 0 && text[3 * i - 1] != ':') return std::nullopt;
    unsigned value = 0;
    for (const char c : text.substr(3 * i, 2)) {
      const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (digit < 0) return std::nullopt;
      value = value * 16 + static_cast<unsigned>(digit);
    }
    mac[i] = static_cast<uint8_t>(value);
  }
  if ((mac[0] & 1) != 0) return std::nullopt;  // a multicast address cannot be a NIC's
  return mac;
}

// tap=NAME[,mac=MAC]
Result<NetConfig> parse_net(std::string_view text, size_t index) {
  const auto usage = " (tap=NAME[,mac=MAC])";
  NetConfig net{{}, default_mac(index)};
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto next = rest.find(',');
    const std::string_view option = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
    if (option.starts_with("tap=")) {
      net.tap = option.substr(4);
      // IFNAMSIZ - 1 characters; '/' and whitespace are not valid in names.
      if (net.tap.empty() || net.tap.size() > 15 || net.tap.find_first_of("/ \t\n:") != std::string::npos) {
        return Error{"--net tap='" + net.tap + "' is not an interface name (1 to 15 characters, no '/', ':' or spaces)"};
      }
    } else if (option.starts_with("mac=")) {
      auto mac = parse_mac(option.substr(4));
      if (!mac) return Error{"--net mac='" + std::string(option.substr(4)) + "' is not a unicast MAC address like 52:54:00:12:34:56"};
      net.mac = *mac;
    } else {
      return Error{"--net option '" + std::string(option) + "' is not tap=NAME or mac=MAC" + usage};
    }
  }
  if (net.tap.empty()) return Error{"--net '" + std::string(text) + "' needs tap=NAME" + usage};
  return net;
}

// CID[,socket=PATH]. CIDs 0-2 are the hypervisor, local and host
// addresses and 0xffffffff is VMADDR_CID_ANY (linux/vm_sockets.h).
Result<VsockConfig> parse_vsock(std::string_view text) {
  const auto comma = text.find(',');
  const auto cid = parse_decimal(text.substr(0, comma));
  if (!cid || *cid < 3 || *cid >= 0xffffffffu) {
    return Error{"--vsock '" + std::string(text.substr(0, comma)) + "' is not a guest CID (3 to 4294967294)"};
  }
  VsockConfig vsock{static_cast<uint32_t>(*cid), "/tmp/ember-vsock-" + std::to_string(*cid) + ".sock"};
  if (comma != std::string_view::npos) {
    const std::string_view option = text.substr(comma + 1);
    if (!option.starts_with("socket=") || option.size() == 7) {
      return Error{"--vsock option '" + std::string(option) + "' is not socket=PATH (CID[,socket=PATH])"};
    }
    vsock.socket_path = option.substr(7);
  }
  return vsock;
}

// Seconds, whole or with up to three decimals ("2", "0.5").
Result<std::chrono::milliseconds> parse_timeout(std::string_view text) {
  const auto bad = Error{"--timeout '" + std::string(text) + "' is not a number of seconds (examples: 30, 0.5)"};
  const auto dot = text.find('.');
  const auto whole = parse_decimal(text.substr(0, dot));
  if (!whole || *whole > 100'000'000) return bad;
  uint64_t millis = *whole * 1000;
  if (dot != std::string_view::npos) {
    const auto fraction = text.substr(dot + 1);
    const auto digits = parse_decimal(fraction);
    if (!digits || fraction.size() > 3) return bad;
    uint64_t scaled = *digits;
    for (size_t i = fraction.size(); i < 3; ++i) scaled *= 10;
    millis += scaled;
  }
  if (millis == 0) return Error{"--timeout must be greater than zero"};
  return std::chrono::milliseconds{millis};
}

// POSIX shell single quoting: 'word', with each ' written as '\''.
std::string shell_quote(const std::string& word) {
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') quoted += "'\\''";
    else quoted += c;
  }
  return quoted + "'";
}

}  // namespace

std::string guest_command_parameter(const std::vector<std::string>& words) {
  std::string command;
  for (const auto& word : words) command += (command.empty() ? "" : " ") + shell_quote(word);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string parameter = "ember.command=";
  for (const char ch : command) {
    const auto c = static_cast<unsigned char>(ch);
    parameter += kHex[c >> 4];
    parameter += kHex[c & 15];
  }
  return parameter;
}

Result<Invocation> parse_arguments(std::span<const std::string_view> args) {
  Invocation invocation;
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") return invocation;
  if (args[0] == "--version") {
    invocation.command = Command::Version;
    return invocation;
  }
  if (args[0] != "run") return Error{"unknown command '" + std::string(args[0]) + "'"};
  invocation.command = Command::Run;
  invocation.machine.cmdline = kDefaultCmdline;

  std::set<std::string, std::less<>> seen;
  for (size_t i = 1; i < args.size(); ++i) {
    std::string_view flag = args[i];
    if (flag == "--") {
      for (++i; i < args.size(); ++i) invocation.guest_command.emplace_back(args[i]);
      if (invocation.guest_command.empty()) return Error{"'--' must be followed by the command to run in the guest"};
      break;
    }
    if (flag == "--help" || flag == "-h") {
      invocation.command = Command::RunHelp;
      return invocation;
    }
    if (!flag.starts_with("--")) return Error{"unexpected argument '" + std::string(flag) + "'"};

    // --flag=value or --flag value
    std::optional<std::string_view> inline_value;
    if (const auto equals = flag.find('='); equals != std::string_view::npos) {
      inline_value = flag.substr(equals + 1);
      flag = flag.substr(0, equals);
    }
    static constexpr std::string_view kKnown[] = {"--kernel", "--initrd",  "--cmdline", "--memory",      "--cpus",
                                                  "--console", "--timeout", "--report", "--exit-device", "--user", "--seccomp",
                                                  "--dump-dtb", "--virtio-transport", "--vsock",
                                                  "--describe-machine", "--acpi"};
    static constexpr std::string_view kRepeatable[] = {"--module", "--fw-cfg", "--disk", "--net"};
    if (flag == "--rng" || flag == "--test-device") {  // the options without a value
      if (inline_value) return Error{std::string(flag) + " takes no value"};
      if (!seen.insert(std::string(flag)).second) return Error{std::string(flag) + " is given more than once"};
      (flag == "--rng" ? invocation.machine.rng : invocation.machine.test_device) = true;
      continue;
    }
    const bool repeatable = std::find(std::begin(kRepeatable), std::end(kRepeatable), flag) != std::end(kRepeatable);
    if (!repeatable && std::find(std::begin(kKnown), std::end(kKnown), flag) == std::end(kKnown)) {
      return Error{"unknown option '" + std::string(flag) + "'"};
    }
    if (!repeatable && !seen.insert(std::string(flag)).second) return Error{std::string(flag) + " is given more than once"};
    std::string_view value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return Error{std::string(flag) + " needs a value"};
    }

    if (flag == "--kernel" || flag == "--initrd") {
      if (value.empty()) return Error{std::string(flag) + " needs a path"};
      (flag == "--kernel" ? invocation.machine.kernel_path : invocation.machine.initrd_path) = value;
    } else if (flag == "--module") {
      if (value.empty() || value.front() == ' ') return Error{"--module needs a path (then, optionally, a space and arguments)"};
      invocation.machine.modules.emplace_back(value);
    } else if (flag == "--seccomp") {
      if (value != "on" && value != "off") return Error{"--seccomp '" + std::string(value) + "' is not on or off"};
      invocation.machine.seccomp = value == "on";
    } else if (flag == "--user") {
      auto user = parse_user(value);
      if (!user) return user.error();
      invocation.machine.run_as = *user;
    } else if (flag == "--exit-device") {
      auto device = parse_exit_device(value);
      if (!device) return device.error();
      invocation.machine.exit_device = *device;
    } else if (flag == "--fw-cfg") {
      auto file = parse_fw_cfg(value);
      if (!file) return file.error();
      invocation.machine.fw_cfg_files.push_back(std::move(*file));
    } else if (flag == "--disk") {
      auto disk = parse_disk(value);
      if (!disk) return disk.error();
      invocation.machine.disks.push_back(std::move(*disk));
    } else if (flag == "--net") {
      auto net = parse_net(value, invocation.machine.nets.size());
      if (!net) return net.error();
      invocation.machine.nets.push_back(std::move(*net));
    } else if (flag == "--cmdline") {
      invocation.machine.cmdline = value;
    } else if (flag == "--memory") {
      auto memory = parse_memory(value);
      if (!memory) return memory.error();
      invocation.machine.memory_bytes = *memory;
    } else if (flag == "--cpus") {
      auto cpus = parse_cpus(value);
      if (!cpus) return cpus.error();
      invocation.machine.cpus = *cpus;
    } else if (flag == "--console") {
      auto console = parse_console(value);
      if (!console) return console.error();
      invocation.machine.console = *console;
    } else if (flag == "--vsock") {
      auto vsock = parse_vsock(value);
      if (!vsock) return vsock.error();
      invocation.machine.vsock = std::move(*vsock);
    } else if (flag == "--virtio-transport") {
      if (value == "mmio") invocation.machine.virtio_transport = MachineConfig::VirtioTransport::Mmio;
      else if (value == "pci") invocation.machine.virtio_transport = MachineConfig::VirtioTransport::Pci;
      else return Error{"--virtio-transport '" + std::string(value) + "' is not one of mmio, pci"};
    } else if (flag == "--describe-machine") {
      if (value == "mptable") invocation.machine.description = MachineConfig::Description::MpTable;
      else if (value == "dtb") invocation.machine.description = MachineConfig::Description::DeviceTree;
      else return Error{"--describe-machine '" + std::string(value) + "' is not one of mptable, dtb"};
    } else if (flag == "--acpi") {
      if (value == "on") invocation.machine.acpi = true;
      else if (value == "off") invocation.machine.acpi = false;
      else return Error{"--acpi '" + std::string(value) + "' is not one of on, off"};
    } else if (flag == "--dump-dtb") {
      if (value.empty()) return Error{"--dump-dtb needs a file path"};
      invocation.dump_dtb_path = value;
    } else if (flag == "--report") {
      if (value != "json") return Error{"--report '" + std::string(value) + "' is not a report format (json)"};
      invocation.report_json = true;
    } else if (flag == "--timeout") {
      auto timeout = parse_timeout(value);
      if (!timeout) return timeout.error();
      invocation.timeout = *timeout;
    }
  }
  if (invocation.machine.kernel_path.empty()) return Error{"'ember run' needs --kernel PATH"};
  if (invocation.machine.virtio_device_count() > invocation.machine.max_virtio_devices()) {
    const bool pci = invocation.machine.virtio_transport == MachineConfig::VirtioTransport::Pci;
    return Error{"at most " + std::to_string(invocation.machine.max_virtio_devices()) +
                 " virtio devices (--disk, --net, --rng, --console virtio and --vsock together) fit " +
                 (pci ? "on PCI bus 0" : "with --virtio-transport mmio (8 windows and pins); pci takes " +
                                             std::to_string(platform::kVirtioPciMaxDevices))};
  }
  for (size_t i = 0; i < invocation.machine.nets.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (invocation.machine.nets[i].tap == invocation.machine.nets[j].tap) {
        return Error{"--net tap='" + invocation.machine.nets[i].tap + "' is given twice; each interface needs its own TAP device"};
      }
    }
  }
  if (invocation.machine.description == MachineConfig::Description::DeviceTree && invocation.machine.acpi &&
      seen.contains("--acpi")) {
    return Error{"--acpi on and --describe-machine dtb exclude each other: the device tree is then the whole description"};
  }
  // The default command line names the console the guest will have.
  if (invocation.machine.console.kind == ConsoleConfig::Kind::Virtio && !seen.contains("--cmdline")) {
    invocation.machine.cmdline = kDefaultVirtioConsoleCmdline;
  }
  if (!invocation.guest_command.empty()) {
    if (invocation.machine.initrd_path.empty()) {
      return Error{"'-- COMMAND' needs --initrd with ember's initramfs (scripts/build-initramfs.sh), whose init runs it"};
    }
    std::string& cmdline = invocation.machine.cmdline;
    // A panic must end the run, not hang it: panic=-1 reboots at once, and a
    // reboot before the command reported is its own exit status (123).
    if (cmdline.find("panic=") == std::string::npos) cmdline += " panic=-1";
    cmdline += " " + guest_command_parameter(invocation.guest_command);
  }
  return invocation;
}

}  // namespace ember::cli
