#include "machine/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/file.h"
#include "base/strings.h"

namespace ember {
namespace {

constexpr uint32_t kMaxDisks = 64;
constexpr uint32_t kMaxNets = 64;
constexpr size_t kMaxPath = 4096;

Result<FileIdentity> identity_of(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) return Error{"disk '" + path + "' cannot be examined: " + std::strerror(errno)};
  return file_identity(info);
}

std::string mac_text(const std::array<uint8_t, 6>& mac) {
  char text[18];
  std::snprintf(text, sizeof text, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
  return text;
}

// A disk as --disk gives it (its path may come from a state file).
std::string disk_option(const DiskConfig& disk) {
  return printable(disk.path) + (disk.read_only ? ",ro" : "") + (disk.overlay ? ",overlay" : "") +
         (disk.queues != 1 ? ",queues=" + std::to_string(disk.queues) : "");
}

std::span<const uint8_t> text_bytes(const std::string& text) { return {reinterpret_cast<const uint8_t*>(text.data()), text.size()}; }

std::string text_from(snapshot::SectionReader& in, size_t max) {
  const auto bytes = in.bytes(max);
  return {bytes.begin(), bytes.end()};
}

}  // namespace

Result<void> check_snapshottable(const MachineConfig& config) {
  const auto refuse = [](const std::string& what) { return Error{"ember snapshot cannot save " + what + " yet (README, \"Snapshots\")"}; };
  if (!config.shares.empty()) return refuse("shared directories (--share, --fs, --root-share): their backends' state is not ember's");
  if (config.console.kind == ConsoleConfig::Kind::Virtio) return refuse("a virtio console (--console virtio)");
  if (config.virtio_transport == MachineConfig::VirtioTransport::Pci) return refuse("virtio-pci devices (--virtio-transport pci)");
  if (config.description == MachineConfig::Description::DeviceTree) return refuse("a device-tree machine (--describe-machine dtb)");
  if (config.test_device) return refuse("pc-testdev (--test-device)");
  if (config.initrd_path.empty()) return Error{"ember snapshot needs --initrd with ember's initramfs, whose init rings the doorbell"};
  return {};
}

void save_machine_config(const MachineConfig& config, snapshot::SectionWriter& out) {
  out.bytes(text_bytes(config.kernel_path)).bytes(text_bytes(config.cmdline));
  out.u64(config.memory_bytes).u32(config.cpus).boolean(config.acpi).boolean(config.rng);
  out.u8(config.exit_device == ExitDevice::Qemu ? 1 : 0);
  out.u32(static_cast<uint32_t>(config.disks.size()));
  for (const auto& disk : config.disks) {
    const auto identity = identity_of(disk.path);
    const FileIdentity known = identity ? *identity : FileIdentity{};
    out.bytes(text_bytes(disk.path)).boolean(disk.read_only).boolean(disk.overlay).u16(disk.queues);
    out.u64(known.device).u64(known.inode).u64(known.size).u64(known.modified_ns);
  }
  // Each interface's MAC address: the guest knows it. The TAP device is
  // the restore's own (--net).
  out.u32(static_cast<uint32_t>(config.nets.size()));
  for (const auto& net : config.nets) out.bytes(net.mac);
  // Whether there is a vsock device; its CID and socket are the restore's
  // own (--vsock), and the guest is told of the new transport.
  out.boolean(config.vsock.has_value());
}

Result<MachineConfig> load_machine_config(snapshot::SectionReader& in, const MachineConfig& requested) {
  MachineConfig config;
  config.kernel_path = text_from(in, kMaxPath);
  config.cmdline = text_from(in, 1 << 16);
  config.memory_bytes = in.u64();
  config.cpus = in.u32();
  config.acpi = in.boolean();
  config.rng = in.boolean();
  const uint8_t exit_device = in.u8();
  const uint32_t disks = in.u32();
  if (disks > kMaxDisks) in.refuse("has " + std::to_string(disks) + " disks");
  std::vector<FileIdentity> identities;
  for (uint32_t i = 0; i < disks && in.ok(); ++i) {
    DiskConfig disk;
    disk.path = text_from(in, kMaxPath);
    disk.read_only = in.boolean();
    disk.overlay = in.boolean();
    disk.queues = in.u16();
    FileIdentity identity;
    identity.device = in.u64(), identity.inode = in.u64(), identity.size = in.u64(), identity.modified_ns = in.u64();
    if (disk.queues < 1 || disk.queues > 16) in.refuse("has a disk with " + std::to_string(disk.queues) + " queues");
    config.disks.push_back(disk);
    identities.push_back(identity);
  }
  const uint32_t nets = in.u32();
  if (nets > kMaxNets) in.refuse("has " + std::to_string(nets) + " network interfaces");
  for (uint32_t i = 0; i < nets && in.ok(); ++i) {
    const auto mac = in.bytes(6);
    if (mac.size() != 6) in.refuse("has a MAC address that is not 6 bytes");
    NetConfig net{};
    if (mac.size() == 6) std::copy(mac.begin(), mac.end(), net.mac.begin());
    config.nets.push_back(net);
  }
  const bool vsock = in.boolean();
  if (exit_device > 1) in.refuse("has an unknown exit device");
  if (config.cpus < 1 || config.cpus > 255) in.refuse("has " + std::to_string(config.cpus) + " CPUs");
  if (config.memory_bytes < (2ull << 20) || config.memory_bytes % 4096 != 0 || config.memory_bytes > (1ull << 46)) {
    in.refuse("has " + std::to_string(config.memory_bytes) + " bytes of RAM");
  }
  if (auto done = in.finish(); !done) return done.error();
  config.exit_device = exit_device == 1 ? ExitDevice::Qemu : ExitDevice::Ember;
  // The state file does not choose which host files the guest sees (it is
  // untrusted input): the restore's own --disk options name them, each as
  // the snapshot had it, and each must still be the file it was.
  if (requested.disks.size() != config.disks.size()) {
    std::string list;
    for (const auto& disk : config.disks) list += " --disk " + disk_option(disk);
    return Error{"the snapshot has " + std::to_string(config.disks.size()) + " disk(s), the command line names " +
                 std::to_string(requested.disks.size()) + "; give --restore the snapshot's disks, in its order:" +
                 (list.empty() ? " none" : list)};
  }
  for (size_t i = 0; i < config.disks.size(); ++i) {
    const DiskConfig& named = requested.disks[i];
    DiskConfig& saved = config.disks[i];
    const std::string which = "disk " + std::to_string(i + 1) + " of the snapshot ('" + printable(saved.path) + "')";
    if (named.read_only != saved.read_only || named.overlay != saved.overlay || named.queues != saved.queues) {
      return Error{"--disk " + disk_option(named) + " differs from " + which + ": the snapshot had --disk " + disk_option(saved)};
    }
    saved.path = named.path;
    saved.from_snapshot = DiskConfig::FromSnapshot{identities[i], which};  // the file is checked once open (Machine::create)
  }
  // Each interface goes on on a TAP device the restore names (--net), so
  // parallel restores each have their own; its MAC stays the snapshot's.
  if (requested.nets.size() != config.nets.size()) {
    return Error{"the snapshot has " + std::to_string(config.nets.size()) + " network interface(s), the command line names " +
                 std::to_string(requested.nets.size()) + "; give --restore one --net tap=NAME for each, in its order"};
  }
  for (size_t i = 0; i < config.nets.size(); ++i) {
    if (requested.nets[i].mac != config.nets[i].mac) {
      return Error{"--net tap=" + requested.nets[i].tap + " asks for MAC " + mac_text(requested.nets[i].mac) + ", but the snapshot's interface " +
                   std::to_string(i + 1) + " is " + mac_text(config.nets[i].mac) + ", which its guest knows: give --net tap=NAME,mac=" + mac_text(config.nets[i].mac)};
    }
    config.nets[i].tap = requested.nets[i].tap;
  }
  // The vsock device goes on with the restore's CID and socket: the guest
  // reads its CID again at the transport reset it is sent.
  if (vsock != requested.vsock.has_value()) {
    return Error{vsock ? "the snapshot has a vsock device; give --restore one with --vsock CID[,socket=PATH]"
                       : "--vsock cannot be given with this snapshot: it has no vsock device"};
  }
  config.vsock = requested.vsock;
  // What the run may choose: where the console goes (the UART either way),
  // the user, seccomp.
  if (requested.console.kind == ConsoleConfig::Kind::Virtio) {
    return Error{"--console virtio cannot be given with --restore: the snapshot's console is the UART"};
  }
  config.console = requested.console;
  config.run_as = requested.run_as;
  config.seccomp = requested.seccomp;
  config.restore_dir = requested.restore_dir;
  config.restore_command = requested.restore_command;
  return config;
}

Result<SnapshotFiles> open_snapshot(const std::string& dir) {
  const std::string where = "snapshot '" + dir + "'";
  auto bytes = read_whole_file(dir + "/state", "snapshot state", 64 << 20);
  if (!bytes) return Error{where + ": " + bytes.error().message};
  auto state = snapshot::StateFile::parse(std::vector<uint8_t>(bytes->begin(), bytes->end()));
  if (!state) return Error{where + ": its state file " + state.error().message};
  // O_NONBLOCK: a FIFO cannot hold the open (it is refused just below).
  FileDescriptor ram{::open((dir + "/ram").c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (!ram.valid()) return Error{where + ": its RAM file cannot be opened: " + std::strerror(errno)};
  struct stat info {};
  if (::fstat(ram.get(), &info) != 0 || !S_ISREG(info.st_mode)) return Error{where + ": its RAM file is not a regular file"};
  return SnapshotFiles{std::move(*state), std::move(ram), static_cast<uint64_t>(info.st_size)};
}

Result<SnapshotOutput> create_snapshot_output(const std::string& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return Error{"cannot make the snapshot directory " + dir + ": " + std::strerror(errno)};
  SnapshotOutput output{dir, {}, {}};
  // The state file first, emptied: from here on DIR holds no snapshot until
  // the new one is complete.
  // New files (the old ones unlinked, not truncated): restores running
  // from the old snapshot keep their copy-on-write mapping of its RAM.
  for (auto [name, file] : {std::pair{"state", &output.state}, std::pair{"ram", &output.ram}}) {
    const std::string path = dir + "/" + name;
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
      return Error{"cannot replace the snapshot's " + std::string(name) + " file in " + dir + ": " + std::strerror(errno)};
    }
    *file = FileDescriptor{::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)};
    if (!file->valid()) return Error{"cannot write the snapshot's " + std::string(name) + " file in " + dir + ": " + std::strerror(errno)};
  }
  return output;
}

Result<void> write_snapshot(const SnapshotOutput& output, const std::vector<uint8_t>& state, const GuestMemory& memory) {
  const std::string where = "cannot write the snapshot in " + output.dir + ": ";
  if (auto ram = memory.save_to(output.ram.get()); !ram) return Error{where + ram.error().message};
  if (::fdatasync(output.ram.get()) != 0) return Error{where + std::strerror(errno)};
  for (size_t done = 0; done < state.size();) {
    const ssize_t wrote = ::pwrite(output.state.get(), state.data() + done, state.size() - done, static_cast<off_t>(done));
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return Error{where + (wrote < 0 ? std::strerror(errno) : "no space")};
    done += static_cast<size_t>(wrote);
  }
  if (::fdatasync(output.state.get()) != 0) return Error{where + std::strerror(errno)};
  return {};
}

}  // namespace ember
