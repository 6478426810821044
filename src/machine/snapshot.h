// Snapshots on disk (issue 20; README, "Snapshots"): `ember snapshot --out
// DIR` writes DIR/ram, the guest's RAM with holes where it is all zeroes,
// and DIR/state, the snapshot state file (snapshot/state_format.h) with the
// machine's configuration (section "machine"), the clocks, each VCPU and
// every device. `ember run --restore DIR` maps DIR/ram copy-on-write and
// restores the rest; neither file is written again (a new snapshot into DIR
// makes new files, so restores running from the old one keep theirs).
//
// A snapshot holds the machines ember can restore whole: virtio-mmio disks,
// network interfaces and rng, the UART console (stdio, a file or none), the
// MP table with or without ACPI. check_snapshottable refuses the rest
// before the guest boots. A restore names the host's side again: each
// disk's file (which must be the snapshot's, unchanged), each interface's
// TAP device (any) and the vsock device's CID and socket (any).
#pragma once

#include <string>
#include <vector>

#include "base/file_descriptor.h"
#include "base/result.h"
#include "machine/machine_config.h"
#include "memory/guest_memory.h"
#include "snapshot/state_format.h"

namespace ember {

// Why `config` cannot be snapshotted, or nothing.
Result<void> check_snapshottable(const MachineConfig& config);

// The configuration and each disk's identity (device, inode, size and
// modification time): a restore refuses a disk that changed since.
void save_machine_config(const MachineConfig& config, snapshot::SectionWriter& out);
// The snapshot's machine, run as `requested` asks: its console (of the
// same kind), timeout, user and seccomp; any other option given with
// --restore is refused by the command line already.
Result<MachineConfig> load_machine_config(snapshot::SectionReader& in, const MachineConfig& requested);

struct SnapshotFiles {
  snapshot::StateFile state;
  FileDescriptor      ram;
  uint64_t            ram_bytes;  // the RAM file's size, which must be the guest's RAM's
};
// DIR's two files: the state file parsed and checked, the RAM file open.
Result<SnapshotFiles> open_snapshot(const std::string& dir);
// DIR's files for `ember snapshot`, made (DIR too) and emptied before the
// guest boots: the snapshot is written under ember's seccomp filter,
// which opens nothing.
struct SnapshotOutput {
  std::string    dir;
  FileDescriptor ram;
  FileDescriptor state;
};
Result<SnapshotOutput> create_snapshot_output(const std::string& dir);
// The RAM first, then the state file, each made durable: a snapshot cut
// short has a state file that is empty or fails its checksum, and is refused.
Result<void> write_snapshot(const SnapshotOutput& output, const std::vector<uint8_t>& state, const GuestMemory& memory);

}  // namespace ember
