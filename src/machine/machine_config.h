// A validated description of the machine to build. The CLI parser is the one
// place user input is checked; Machine::create checks only what depends on
// the host (files, /dev/kvm, host RAM).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "base/file.h"
#include "devices/exit_port.h"
#include "platform/address_map.h"
#include "security/seccomp_filters.h"

namespace ember {

struct ConsoleConfig {
  // Virtio: the guest's console is a virtio-console device (hvc0) on
  // stdin/stdout, and the UART's output is discarded.
  enum class Kind { Stdio, File, None, Virtio };
  Kind        kind = Kind::Stdio;
  std::string path;  // for Kind::File
};

struct FwCfgFileConfig {
  std::string name;
  std::string path;    // the file's contents, or
  std::string text;    // these bytes when path is empty
};

// A virtio-blk disk (--disk PATH[,ro|,overlay][,queues=N]).
struct DiskConfig {
  std::string path;
  bool        read_only = false;
  uint16_t    queues = 1;
  bool        overlay = false;  // writes go to a private layer, discarded at exit
  // A restore's disk: the file the snapshot had, which the file ember
  // opens must be (checked on its descriptor, Machine::create), and how a
  // refusal names the snapshot's disk (machine/snapshot.h).
  struct FromSnapshot {
    FileIdentity identity;
    std::string  which;  // "disk 1 of the snapshot ('PATH')"
  };
  std::optional<FromSnapshot> from_snapshot;
};

// A virtio-net interface on a TAP device (--net tap=NAME[,mac=MAC]).
// --vsock CID[,socket=PATH]: the guest's context ID and the Unix socket
// host programs connect to (virtio/vsock_device.h).
struct VsockConfig {
  uint32_t    cid;
  std::string socket_path;
};

// A directory shared with the guest over virtio-fs (virtio/fs_device.h),
// which the guest mounts by its tag; the project's initramfs mounts it at
// /mnt/TAG. --fs socket=PATH,tag=TAG: a vhost-user backend the user
// started. --share DIR[,tag=TAG][,ro]: ember starts virtiofsd for DIR.
struct FsConfig {
  std::string tag;
  std::string socket_path;  // --fs
  std::string host_dir;     // --share
  bool        read_only = false;
};

struct NetConfig {
  std::string            tap;
  std::array<uint8_t, 6> mac;
};
// The MAC address of the i-th --net without mac=: QEMU's locally
// administered prefix, so guests see familiar addresses.
inline std::array<uint8_t, 6> default_mac(size_t index) {
  return {0x52, 0x54, 0x00, 0x12, 0x34, static_cast<uint8_t>(0x56 + index)};
}

struct RunAsConfig {
  uint32_t uid;
  uint32_t gid;
};

struct MachineConfig {
  std::string   kernel_path;
  std::string   initrd_path;  // empty: no initrd
  // Multiboot modules, each "PATH" or "PATH ARGS": the file is PATH, and the
  // kernel sees the whole string as the module's command line (as QEMU's
  // -initrd "file args,..." and GRUB's `module` give it).
  std::vector<std::string> modules;
  ExitDevice    exit_device = ExitDevice::Ember;
  // QEMU's pc-testdev (devices/pc_testdev.h), for conformance programs.
  bool          test_device = false;
  // Extra fw_cfg files (QEMU's -fw_cfg name=...,file=|string=...).
  std::vector<FwCfgFileConfig> fw_cfg_files;
  std::string   cmdline;
  uint64_t      memory_bytes = 128ull << 20;
  uint32_t      cpus = 1;
  ConsoleConfig console;
  // How virtio devices attach: virtio-mmio (announced on the kernel command
  // line) or virtio-pci (found by scanning PCI bus 0).
  enum class VirtioTransport { Mmio, Pci };
  VirtioTransport virtio_transport = VirtioTransport::Mmio;
  // How the guest learns what the machine has (--describe-machine): an MP
  // table plus virtio_mmio.device= on the command line, or a device tree
  // in the boot_params setup_data chain (SETUP_DTB) and nothing else.
  enum class Description { MpTable, DeviceTree };
  Description description = Description::MpTable;
  // ACPI tables (boot/acpi_tables.h) beside the MP table (--acpi); never
  // with a device tree, which is the whole description.
  bool acpi = true;
  bool acpi_tables() const { return acpi && description == Description::MpTable; }
  // virtio devices, in this order: disks, network interfaces, the rng, the
  // console, vsock, shared directories.
  std::vector<DiskConfig> disks;
  std::vector<NetConfig>  nets;
  bool                    rng = false;
  std::optional<VsockConfig> vsock;
  std::vector<FsConfig>   shares;
  size_t virtio_device_count() const {
    return disks.size() + nets.size() + (rng ? 1 : 0) + (console.kind == ConsoleConfig::Kind::Virtio ? 1 : 0) +
           (vsock ? 1 : 0) + shares.size();
  }
  // How many fit: virtio-mmio has 8 windows and IOAPIC pins; virtio-pci
  // every PCI slot but the host bridge's and pvpanic's (MSI-X needs no pin).
  size_t max_virtio_devices() const {
    return virtio_transport == VirtioTransport::Pci ? platform::kVirtioPciMaxDevices : platform::kVirtioMmioSlots;
  }
  // Before the guest runs, ember drops every capability and sets
  // no_new_privs; with this it also becomes this user (--user).
  std::optional<RunAsConfig> run_as;
  // seccomp filters from the guest's first instruction on (--seccomp off
  // is for debugging ember only).
  bool seccomp = kSeccompByDefault;
  // `ember snapshot --out DIR`: save the machine in DIR when the guest's
  // init rings the command port (devices/command_port.h).
  std::string snapshot_dir;
  // `ember run --restore DIR [-- COMMAND]`: the machine is DIR's snapshot
  // (machine/snapshot.h), and COMMAND (shell-quoted words) its command.
  std::string restore_dir;
  std::string restore_command;
};

}  // namespace ember
