#include "cli/arguments.h"

#include <algorithm>
#include <cctype>
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

// "PATH[,ro|,overlay][,queues=N]": a virtio-blk disk. The path ends at the first comma.
Result<DiskConfig> parse_disk(std::string_view text) {
  const auto comma = text.find(',');
  DiskConfig disk;
  disk.path = std::string(text.substr(0, comma));
  if (disk.path.empty()) return Error{"--disk '" + std::string(text) + "' needs a path (PATH[,ro|,overlay][,queues=N])"};
  std::string_view rest = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  while (!rest.empty()) {
    const auto next = rest.find(',');
    const std::string_view option = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view{} : rest.substr(next + 1);
    if (option == "ro") {
      disk.read_only = true;
    } else if (option == "overlay") {
      disk.overlay = true;
    } else if (option.starts_with("queues=")) {
      const auto queues = parse_decimal(option.substr(7));
      if (!queues || *queues < 1 || *queues > 16) return Error{"--disk queues='" + std::string(option.substr(7)) + "' is not 1 to 16"};
      disk.queues = static_cast<uint16_t>(*queues);
    } else {
      return Error{"--disk option '" + std::string(option) + "' is not ro, overlay or queues=N"};
    }
  }
  if (disk.read_only && disk.overlay) {
    return Error{"--disk '" + std::string(text) + "': ro and overlay exclude each other (overlay: the guest writes, the image never changes)"};
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

// A virtio-fs tag (virtio 1.2 §5.11.4: up to 36 bytes), which the
// initramfs also uses as the mount point's name under /mnt.
Status check_fs_tag(std::string_view option, std::string_view tag) {
  const bool named = !tag.empty() && tag.size() <= 36 && tag != "." && tag != ".." && tag.front() != '-' &&
                     std::all_of(tag.begin(), tag.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'; });
  if (!named) {
    return Error{std::string(option) + " tag='" + std::string(tag) +
                 "' is not a tag (1 to 36 letters, digits, '-', '_' or '.', not starting with '-')"};
  }
  return {};
}

// socket=PATH,tag=TAG
Result<FsConfig> parse_fs(std::string_view text) {
  const std::string usage = " (--fs socket=PATH,tag=TAG)";
  FsConfig fs;
  for (const std::string_view option : split(text, ',')) {
    if (option.starts_with("socket=") && option.size() > 7) fs.socket_path = option.substr(7);
    else if (option.starts_with("tag=")) fs.tag = option.substr(4);
    else return Error{"--fs option '" + std::string(option) + "' is not socket=PATH or tag=TAG" + usage};
  }
  if (fs.socket_path.empty()) return Error{"--fs '" + std::string(text) + "' needs socket=PATH" + usage};
  if (auto tagged = check_fs_tag("--fs", fs.tag); !tagged) return tagged.error();
  return fs;
}

// DIR[,tag=TAG][,ro]; the tag defaults to the directory's last name.
Result<FsConfig> parse_share(std::string_view text) {
  const std::string usage = " (--share DIR[,tag=TAG][,ro])";
  const auto parts = split(text, ',');
  if (parts.empty() || parts[0].empty()) return Error{"--share needs a directory" + usage};
  FsConfig share;
  share.host_dir = parts[0];
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i] == "ro") share.read_only = true;
    else if (parts[i].starts_with("tag=")) share.tag = parts[i].substr(4);
    else return Error{"--share option '" + std::string(parts[i]) + "' is not tag=TAG or ro" + usage};
  }
  if (share.tag.empty()) {
    std::string_view name = share.host_dir;
    while (name.size() > 1 && name.back() == '/') name.remove_suffix(1);
    name = name.substr(name.find_last_of('/') == std::string_view::npos ? 0 : name.find_last_of('/') + 1);
    share.tag = check_fs_tag("--share", name) ? std::string(name) : "share";  // a name that is no tag: "share"
  }
  if (auto tagged = check_fs_tag("--share", share.tag); !tagged) return tagged.error();
  return share;
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

// The parsed value into `into` (a field, or an optional one), or the
// parser's error.
template <typename T, typename Into>
Status assign(Result<T> parsed, Into& into) {
  if (!parsed) return parsed.error();
  into = std::move(*parsed);
  return {};
}

// The parsed value appended to a repeatable option's list, or the error.
template <typename T>
Status append(Result<T> parsed, std::vector<T>& into) {
  if (!parsed) return parsed.error();
  into.push_back(std::move(*parsed));
  return {};
}

// One of a few named values.
template <typename T>
Status choose(std::string_view value, std::string_view option, std::initializer_list<std::pair<std::string_view, T>> choices,
              T& into) {
  std::string names;
  for (const auto& [name, choice] : choices) {
    if (value == name) {
      into = choice;
      return {};
    }
    names += (names.empty() ? "" : ", ") + std::string(name);
  }
  return Error{std::string(option) + " '" + std::string(value) + "' is not one of " + names};
}

// The options of `ember run`, in --help's order.
const Option kRunOptions[] = {
    {"--kernel", "PATH", false,
     R"(the kernel or guest program to boot (required))",
     [](Invocation& in, std::string_view value) -> Status {
       if (value.empty()) return Error{"--kernel needs a path"};
       in.machine.kernel_path = value;
       return {};
     }},
    {"--initrd", "PATH", false,
     R"(an initial ramdisk for the kernel (for a multiboot
kernel: its first module))",
     [](Invocation& in, std::string_view value) -> Status {
       if (value.empty()) return Error{"--initrd needs a path"};
       in.machine.initrd_path = value;
       return {};
     }},
    {"--module", "'PATH [ARGS]'", true,
     R"(multiboot only, repeatable: load PATH as a module; the
kernel sees the whole value as the module's string.
A multiboot kernel's own command line is its path, a
space and --cmdline, as GRUB and QEMU give it)",
     [](Invocation& in, std::string_view value) -> Status {
       if (value.empty() || value.front() == ' ') return Error{"--module needs a path (then, optionally, a space and arguments)"};
       in.machine.modules.emplace_back(value);
       return {};
     }},
    {"--cmdline", "STR", false,
     R"(the kernel command line
(default: "console=ttyS0 reboot=k panic=-1"))",
     [](Invocation& in, std::string_view value) -> Status {
       in.machine.cmdline = value;
       return {};
     }},
    {"--memory", "SIZE", false,
     R"(guest RAM: a number with K, M, G or T (binary units);
a bare number is MiB; at least 4M (default: 128M))",
     [](Invocation& in, std::string_view value) { return assign(parse_memory(value), in.machine.memory_bytes); }},
    {"--cpus", "N", false,
     R"(number of VCPUs, 1 to 254 and at most KVM's limit
(default: 1). VCPUs after the first wait for the
INIT/SIPI the guest sends them (MP table: APIC IDs 0..N-1))",
     [](Invocation& in, std::string_view value) { return assign(parse_cpus(value), in.machine.cpus); }},
    {"--console", "MODE", false,
     R"(the guest's console:
stdio (default): the serial port (COM1, 0x3f8) on
  stdout, fed by stdin
virtio: a virtio-console device (Linux: hvc0) on
  stdout, fed by stdin; the serial port's output is
  discarded, and the default command line says
  console=hvc0 instead of console=ttyS0
file:PATH: the serial port's output to PATH, no input
none: the serial port's output is discarded)",
     [](Invocation& in, std::string_view value) { return assign(parse_console(value), in.machine.console); }},
    {"--timeout", "SECONDS", false,
     R"(stop the guest after SECONDS (fractions allowed) and
exit with status 124)",
     [](Invocation& in, std::string_view value) { return assign(parse_timeout(value), in.timeout); }},
    {"--report", "json", false,
     R"(at the end, print one JSON line on stderr: exit status,
outcome, wall time, boot-to-init time (from ember's boot
timer, port 0xf5, which the initramfs' init writes),
KVM exits by reason, start-up time (main() to the first
KVM_RUN), peak RSS and guest RAM touched)",
     [](Invocation& in, std::string_view value) -> Status {
       if (value != "json") return Error{"--report '" + std::string(value) + "' is not a report format (json)"};
       in.report_json = true;
       return {};
     }},
    {"--vsock", "CID[,socket=PATH]", false,
     R"(a virtio-vsock device; the guest's context ID is CID
(3 to 4294967294). Host programs reach the guest through
the Unix socket PATH (default /tmp/ember-vsock-CID.sock):
connect, write "CONNECT PORT\n", read "OK N\n", then the
socket carries the guest's port PORT. A guest connecting
to the host (CID 2) port P reaches whoever listens on the
Unix socket PATH_P. Stream sockets only)",
     [](Invocation& in, std::string_view value) { return assign(parse_vsock(value), in.machine.vsock); }},
    {"--share", "DIR[,tag=TAG][,ro]", true,
     R"(repeatable: share the host directory DIR with the guest
over virtio-fs; ember starts virtiofsd for it (QEMU's,
/usr/lib/qemu/virtiofsd; EMBER_VIRTIOFSD overrides) and
stops it with the guest. The guest mounts it by TAG
(default: DIR's last name); ember's initramfs mounts it at
/mnt/TAG. ro: the guest cannot write to it. Needs root
(virtiofsd's sandbox) and a kernel with VIRTIO_FS)",
     [](Invocation& in, std::string_view value) { return append(parse_share(value), in.machine.shares); }},
    {"--fs", "socket=PATH,tag=TAG", true,
     R"(repeatable: a virtio-fs device served by a vhost-user
backend already listening on the Unix socket PATH (for
example a virtiofsd you started); the guest mounts it
by TAG)",
     [](Invocation& in, std::string_view value) { return append(parse_fs(value), in.machine.shares); }},
    {"--root-share", "", false,
     R"(the host's / as the guest's root: ember shares / read-only
(as --share /,tag=root,ro) and ember's initramfs runs
'-- COMMAND' chrooted into an overlay of it with a tmpfs on
top, so COMMAND is the host's own program, with its
libraries, on the guest's kernel; nothing the guest writes
reaches the host or outlives the run. Needs -- COMMAND)",
     [](Invocation& in, std::string_view) -> Status {
       in.root_share = true;
       in.machine.shares.push_back(FsConfig{kRootShareTag, "", "/", true});
       return {};
     }},
    {"--virtio-transport", "mmio|pci", false,
     R"(how the virtio devices attach: mmio (default): virtio-mmio
windows at 0xd0000000, IOAPIC pins 16-23, announced to
Linux with virtio_mmio.device= on its command line; pci:
modern virtio-pci functions on PCI bus 0 (slots 1-30,
BARs at 0xe0000000), MSI-X interrupts only, found by the
guest's PCI scan (Linux: CONFIG_VIRTIO_PCI, CONFIG_PCI_MSI).
pci costs about half the exits per interrupt (an MSI-X
message needs no status read, and its EOI seldom exits)
but raises one interrupt per queue, about twice as many
(bench/README.md). ember snapshot does not save it)",
     [](Invocation& in, std::string_view value) {
       return choose(value, "--virtio-transport", {{"mmio", MachineConfig::VirtioTransport::Mmio}, {"pci", MachineConfig::VirtioTransport::Pci}},
                     in.machine.virtio_transport);
     }},
    {"--describe-machine", "mptable|dtb", false,
     R"(how the guest learns what the machine has. mptable
(default): an Intel MP table (CPUs, IOAPIC, ISA IRQs)
and, for virtio-mmio, virtio_mmio.device= on the kernel
command line. dtb: the device tree of --dump-dtb in
boot_params' setup_data chain (SETUP_DTB) and neither
of those; needs a bzImage, and a Linux built with
CONFIG_OF_EARLY_FLATTREE, which x86-64 kernels get
only with CONFIG_OF_UNITTEST (CONFIG_OF=y). ISA
interrupts (COM1's) then reach the CPU through the 8259
(LINT0 in ExtINT mode), as no tree binding routes them
to the IOAPIC)",
     [](Invocation& in, std::string_view value) {
       return choose(value, "--describe-machine",
                     {{"mptable", MachineConfig::Description::MpTable}, {"dtb", MachineConfig::Description::DeviceTree}},
                     in.machine.description);
     }},
    {"--acpi", "on|off", false,
     R"(ACPI tables (default on; off with --describe-machine dtb):
RSDP at 0xe0000, XSDT, FADT, FACS, MADT (every CPU, the
IOAPIC) and a DSDT with COM1, the PCI host bridge and
every virtio-mmio device, so kernels without an MP-table
parser see every CPU and kernels without
virtio_mmio.device= find their disks. A guest powers off
through ACPI S5 (exit 0). The MP table is written either
way, for kernels built without ACPI or booted acpi=off)",
     [](Invocation& in, std::string_view value) -> Status {
       bool on = true;
       if (auto chosen = choose(value, "--acpi", {{"on", true}, {"off", false}}, on); !chosen) return chosen;
       in.machine.acpi = on;
       return {};
     }},
    {"--dump-dtb", "PATH", false,
     R"(build the machine (every file, device and KVM checked),
write its flattened device tree to PATH and exit 0
without starting the guest; read it with
dtc -I dtb -O dts PATH. It lists the CPUs, RAM, LAPIC,
IOAPIC, COM1 and each virtio-mmio device with its
address and IOAPIC pin: what --describe-machine dtb
hands the guest)",
     [](Invocation& in, std::string_view value) -> Status {
       if (value.empty()) return Error{"--dump-dtb needs a file path"};
       in.dump_dtb_path = value;
       return {};
     }},
    {"--exit-device", "ember|qemu", false,
     R"(what a write to port 0xf4 means: ember (default): byte N
exits with status N; qemu: like QEMU's isa-debug-exit
(-device isa-debug-exit,iobase=0xf4), value V exits with
status (V << 1) | 1 (low 8 bits))",
     [](Invocation& in, std::string_view value) { return assign(parse_exit_device(value), in.machine.exit_device); }},
    {"--test-device", "", false,
     R"(QEMU's pc-testdev, as kvm-unit-tests expect it (with
--exit-device qemu): a scratch register at ports
0xe0-0xeb, interrupt lines 0-23 driven by byte writes to
ports 0x2000-0x2017, 64 KiB of scratch MMIO at
0xff000000. Off by default: it lets the guest drive any
interrupt line)",
     [](Invocation& in, std::string_view) -> Status {
       in.machine.test_device = true;
       return {};
     }},
    {"--fw-cfg", "name=NAME,file=PATH | name=NAME,string=TEXT", true,
     R"(repeatable: an extra file in the fw_cfg device (ports
0x510-0x51b, QEMU's interface; DMA included), which
always has the signature, ID, RAM size, CPU count,
command line and etc/e820)",
     [](Invocation& in, std::string_view value) { return append(parse_fw_cfg(value), in.machine.fw_cfg_files); }},
    {"--disk", "PATH[,ro|,overlay][,queues=N]", true,
     R"(repeatable: a virtio-blk disk backed by the raw image
PATH (a file or block device; the path ends at the first
comma). ro: read-only. overlay: the guest writes to a
private copy-on-write layer (a temporary file in $TMPDIR
or /var/tmp) that is discarded at exit; PATH never
changes, and any number of runs may share it.
queues=N: N request queues (1-16).
ember locks the image (a write lock, or a read lock with
ro or overlay) so two VMMs cannot share a writable disk. A FLUSH
the guest sees acknowledged is on the host disk
(fdatasync); guests that do not flush get write-through)",
     [](Invocation& in, std::string_view value) { return append(parse_disk(value), in.machine.disks); }},
    {"--net", "tap=NAME[,mac=MAC]", true,
     R"(repeatable: a virtio-net interface on the TAP device
NAME, which ember creates (for its own lifetime) when it
does not exist and ember has CAP_NET_ADMIN; an existing
one must belong to ember's user (ip tuntap add NAME mode
tap user USER). mac: the guest's address (default
52:54:00:12:34:56, then :57 ... for the next --net).
Checksum and segmentation offloads and mergeable receive
buffers are offered; the host end (address, bridge,
routing) is configured outside ember)",
     [](Invocation& in, std::string_view value) { return append(parse_net(value, in.machine.nets.size()), in.machine.nets); }},
    {"--rng", "", false,
     R"(a virtio-rng device fed by the host's getrandom()
Virtio devices are virtio-mmio (version 2), 4 KiB each
from 0xd0000000 in this order: disks, network
interfaces, the rng, the console (--console virtio);
device i interrupts on IOAPIC pin 16+i (level). ember
announces each to Linux with virtio_mmio.device=... on
the kernel command line (CONFIG_VIRTIO_MMIO_CMDLINE_DEVICES),
or in the device tree with --describe-machine dtb)",
     [](Invocation& in, std::string_view) -> Status {
       in.machine.rng = true;
       return {};
     }},
    {"--user", "UID:GID", false,
     R"(once everything is open, become this user and group
(needs CAP_SETUID and CAP_SETGID, as root has). Always,
before the guest runs, ember drops every capability and
sets no_new_privs)",
     [](Invocation& in, std::string_view value) { return assign(parse_user(value), in.machine.run_as); }},
    {"--restore", "DIR", false,
     R"(run the machine `ember snapshot --out DIR` saved
instead of booting one: its RAM is mapped copy-on-write
from DIR (never written), and '-- COMMAND' goes to its
waiting init. The snapshot's disks must be named again,
with the same --disk options in the same order (the
snapshot's files do not choose what the guest sees); a
disk that is not the same file, or changed since the
snapshot, is refused. Each of its interfaces needs a
--net tap=NAME, any TAP device (the MAC stays the
snapshot's: give its mac= if it had one); its vsock device a --vsock CID[,socket=PATH],
any (the guest is sent a transport reset and reads the
CID again). Only --disk, --net, --vsock, --timeout,
--report, --console (not virtio), --user and --seccomp may
be given with it; the snapshot fixes the rest)",
     [](Invocation& in, std::string_view value) -> Status {
       if (value.empty()) return Error{"--restore needs the snapshot's directory"};
       in.machine.restore_dir = value;
       return {};
     }},
    {"--seccomp", "on|off", false,
     R"(seccomp filters from the guest's first instruction on
(default on; off only to debug ember itself). A system
call outside them stops ember with status 122)",
     [](Invocation& in, std::string_view value) -> Status {
       if (value != "on" && value != "off") return Error{"--seccomp '" + std::string(value) + "' is not on or off"};
       in.machine.seccomp = value == "on";
       return {};
     }},
};

}  // namespace

std::span<const Option> run_options() { return kRunOptions; }

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
  if (args[0] != "run" && args[0] != "snapshot") return Error{"unknown command '" + std::string(args[0]) + "'"};
  invocation.command = args[0] == "run" ? Command::Run : Command::Snapshot;
  const bool snapshot = invocation.command == Command::Snapshot;
  invocation.machine.cmdline = kDefaultCmdline;

  std::set<std::string, std::less<>> seen;   // the options that may appear once
  std::set<std::string, std::less<>> given;  // every option given
  for (size_t i = 1; i < args.size(); ++i) {
    std::string_view flag = args[i];
    if (snapshot && (flag == "--out" || flag.starts_with("--out="))) {
      if (!invocation.machine.snapshot_dir.empty()) return Error{"--out is given more than once"};
      if (flag.starts_with("--out=")) invocation.machine.snapshot_dir = flag.substr(6);
      else if (i + 1 < args.size()) invocation.machine.snapshot_dir = args[++i];
      if (invocation.machine.snapshot_dir.empty()) return Error{"--out needs the directory the snapshot goes to"};
      continue;
    }
    if (flag == "--") {
      if (snapshot) return Error{"'ember snapshot' runs no command; give it to 'ember run --restore DIR -- COMMAND'"};
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
    const auto option = std::find_if(std::begin(kRunOptions), std::end(kRunOptions), [flag](const Option& o) { return o.name == flag; });
    if (option == std::end(kRunOptions)) return Error{"unknown option '" + std::string(flag) + "'"};
    if (!option->takes_value() && inline_value) return Error{std::string(flag) + " takes no value"};
    if (!option->repeatable && !seen.insert(std::string(flag)).second) return Error{std::string(flag) + " is given more than once"};
    given.insert(std::string(flag));
    std::string_view value;
    if (option->takes_value()) {
      if (inline_value) value = *inline_value;
      else if (i + 1 < args.size()) value = args[++i];
      else return Error{std::string(flag) + " needs a value"};
    }
    if (auto applied = option->apply(invocation, value); !applied) return applied.error();
  }
  for (size_t i = 0; i < invocation.machine.nets.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (invocation.machine.nets[i].tap == invocation.machine.nets[j].tap) {
        return Error{"--net tap='" + invocation.machine.nets[i].tap + "' is given twice; each interface needs its own TAP device"};
      }
    }
  }
  if (!invocation.machine.restore_dir.empty()) {
    if (snapshot) return Error{"--restore belongs to 'ember run'"};
    // The snapshot fixes the machine; only how this run goes may be chosen.
    for (const auto& flag : given) {
      if (flag != "--restore" && flag != "--timeout" && flag != "--report" && flag != "--console" && flag != "--user" &&
          flag != "--seccomp" && flag != "--disk" && flag != "--net" &&
          flag != "--vsock") {
        return Error{flag + " cannot be given with --restore: the snapshot fixes the machine"};
      }
    }
    if (!invocation.guest_command.empty()) {
      for (const auto& word : invocation.guest_command) {
        invocation.machine.restore_command += (invocation.machine.restore_command.empty() ? "" : " ") + shell_quote(word);
      }
    }
    return invocation;
  }
  if (invocation.machine.kernel_path.empty()) return Error{snapshot ? "'ember snapshot' needs --kernel PATH" : "'ember run' needs --kernel PATH"};
  if (snapshot) {
    if (invocation.machine.snapshot_dir.empty()) return Error{"'ember snapshot' needs --out DIR, where the snapshot goes"};
    if (invocation.machine.initrd_path.empty()) {
      return Error{"'ember snapshot' needs --initrd with ember's initramfs, whose init rings the doorbell when it is ready"};
    }
  }
  if (invocation.machine.virtio_device_count() > invocation.machine.max_virtio_devices()) {
    const bool pci = invocation.machine.virtio_transport == MachineConfig::VirtioTransport::Pci;
    return Error{"at most " + std::to_string(invocation.machine.max_virtio_devices()) +
                 " virtio devices (--disk, --net, --rng, --console virtio, --vsock, --share and --fs together) fit " +
                 (pci ? "on PCI bus 0" : "with --virtio-transport mmio (8 windows and pins); pci takes " +
                                             std::to_string(platform::kVirtioPciMaxDevices))};
  }
  for (size_t i = 0; i < invocation.machine.shares.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (invocation.machine.shares[i].tag == invocation.machine.shares[j].tag) {
        return Error{"the virtio-fs tag '" + invocation.machine.shares[i].tag + "' is given twice; each share needs its own (tag=)"};
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
  // ember's initramfs mounts each shared directory at /mnt/TAG, and the
  // root share under the command (images/initramfs/init); other guests
  // ignore the parameters.
  std::string tags;
  for (const auto& share : invocation.machine.shares) {
    if (share.tag != kRootShareTag || !invocation.root_share) tags += (tags.empty() ? "" : ",") + share.tag;
  }
  if (!tags.empty()) invocation.machine.cmdline += " ember.shares=" + tags;
  if (snapshot) {
    // The project's init rings the command port and waits for a command
    // there (images/initramfs/init); a restored panic must end the run too.
    std::string& cmdline = invocation.machine.cmdline;
    if (cmdline.find("panic=") == std::string::npos) cmdline += " panic=-1";
    cmdline += " ember.await-command";
  }
  if (invocation.root_share) {
    if (invocation.guest_command.empty()) return Error{"--root-share needs '-- COMMAND': the host's program to run in the guest"};
    invocation.machine.cmdline += std::string(" ember.root=") + kRootShareTag;
  }
  return invocation;
}

}  // namespace ember::cli
