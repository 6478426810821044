#include "machine/machine.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "base/file.h"
#include "base/log.h"
#include "base/stop_signals.h"
#include "base/strings.h"
#include "boot/acpi_tables.h"
#include "boot/boot_cpu.h"
#include "boot/device_tree.h"
#include "boot/e820.h"
#include "boot/kernel_loader.h"
#include "boot/layout.h"
#include "boot/mp_table.h"
#include "boot/setup_data.h"
#include "irq/pv_eoi.h"
#include "machine/console_input.h"
#include "security/privileges.h"
#include "security/seccomp_filters.h"
#include "vcpu/cpuid_profile.h"
#include "vcpu/kick_signal.h"
#include "vcpu/msr_setup.h"
#include "virtio/block_device.h"
#include "virtio/console_device.h"
#include "virtio/mmio_slots.h"
#include "virtio/net_device.h"
#include "virtio/rng_device.h"
#include "virtio/fs_device.h"
#include "virtio/vhost_user_backend.h"
#include "virtio/virtiofsd_process.h"
#include "virtio/vsock_device.h"

namespace ember {
namespace {

// KVM_SET_TSS_ADDR needs three pages of guest-physical space that are not
// RAM; just below the BIOS area at the top of the 32-bit space, in the MMIO
// hole, as QEMU and Firecracker do.
constexpr uint64_t kTssAddress = 0xfffbd000;

// The IOAPIC's APIC-bus ID: the first after the CPUs' (0 .. cpus-1). The MP
// table announces it and the IOAPIC answers with it; both take it from here.
uint8_t ioapic_id(uint32_t cpus) { return static_cast<uint8_t>(cpus); }

// How long a finished run waits, without progress, for its last console
// output to be read.
constexpr std::chrono::milliseconds kConsoleDrainLimit{3000};

Status check_host_ram(uint64_t wanted) {
  struct sysinfo info {};
  if (::sysinfo(&info) != 0) return {};
  const uint64_t host = static_cast<uint64_t>(info.totalram) * info.mem_unit;
  if (wanted > host) {
    return Error{"--memory " + format_size(wanted) + " is more than this host's " + format_size(host & ~((1ull << 20) - 1)) +
                 " of RAM"};
  }
  return {};
}

// Every host file the run reads or writes as an input, by role, so the
// console file can be checked against them.
std::vector<std::pair<std::string, std::string>> input_files(const MachineConfig& config) {
  std::vector<std::pair<std::string, std::string>> inputs{{"the kernel", config.kernel_path}};
  if (!config.initrd_path.empty()) inputs.emplace_back("the initrd", config.initrd_path);
  for (const auto& module : config.modules) inputs.emplace_back("a module", module.substr(0, module.find(' ')));
  for (const auto& file : config.fw_cfg_files) {
    if (!file.path.empty()) inputs.emplace_back("an fw_cfg file", file.path);
  }
  for (const auto& disk : config.disks) inputs.emplace_back("disk", disk.path);
  return inputs;
}

// The console file: created or truncated, but never one of the run's own
// inputs (truncating a --disk image would lose it before the guest starts),
// and never waited on (a FIFO without a reader is refused, not blocked on).
Result<FileDescriptor> open_console_file(const std::string& path, const MachineConfig& config) {
  const std::string what = "console file '" + path + "'";
  struct stat existing {};
  if (::stat(path.c_str(), &existing) == 0) {
    for (const auto& [role, input] : input_files(config)) {
      struct stat other {};
      if (::stat(input.c_str(), &other) == 0 && other.st_dev == existing.st_dev && other.st_ino == existing.st_ino) {
        return Error{what + " is " + role + " '" + input + "'; ember will not overwrite its own input with console output"};
      }
    }
  }
  FileDescriptor fd{::open(path.c_str(), O_WRONLY | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0644)};
  if (!fd.valid()) {
    if (errno == ENXIO) return Error{what + " is a FIFO with no reader (or a socket); start its reader first"};
    return Error{what + " cannot be opened: " + std::strerror(errno)};
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return Error{what + " cannot be examined: " + std::strerror(errno)};
  if (S_ISREG(info.st_mode)) {
    if (::ftruncate(fd.get(), 0) != 0) return Error{what + " cannot be truncated: " + std::strerror(errno)};
  } else if (!S_ISFIFO(info.st_mode) && !S_ISCHR(info.st_mode)) {
    return Error{what + " is not a regular file, a FIFO or a character device"};
  }
  if (!set_blocking(fd.get())) {
    return Error{what + " cannot be set to blocking I/O: " + std::strerror(errno)};
  }
  return fd;
}

Result<std::unique_ptr<ConsoleOutput>> open_console(const ConsoleConfig& console, const MachineConfig& config) {
  switch (console.kind) {
    case ConsoleConfig::Kind::Stdio:
    case ConsoleConfig::Kind::Virtio:
      return std::unique_ptr<ConsoleOutput>{std::make_unique<FdConsoleOutput>(STDOUT_FILENO)};
    case ConsoleConfig::Kind::None:
      return std::unique_ptr<ConsoleOutput>{std::make_unique<NullConsoleOutput>()};
    case ConsoleConfig::Kind::File: {
      auto fd = open_console_file(console.path, config);
      if (!fd) return fd.error();
      return std::unique_ptr<ConsoleOutput>{std::make_unique<FdConsoleOutput>(std::move(*fd))};
    }
  }
  return Error{"unknown console kind"};
}

}  // namespace

Result<std::unique_ptr<Machine>> Machine::create(const MachineConfig& requested) {
  // A restore: the machine is the snapshot's (machine/snapshot.h), run as
  // the command line asks.
  std::optional<SnapshotFiles> snapshot;
  MachineConfig restored_config;
  if (!requested.restore_dir.empty()) {
    auto opened = open_snapshot(requested.restore_dir);
    if (!opened) return opened.error();
    auto section = opened->state.section("machine");
    if (!section) return Error{"snapshot '" + requested.restore_dir + "': its state file " + section.error().message};
    auto loaded = load_machine_config(*section, requested);
    if (!loaded) return Error{"snapshot '" + requested.restore_dir + "': " + loaded.error().message};
    restored_config = std::move(*loaded);
    // Mapped past its end, the file would fault ember (SIGBUS) where the
    // guest's RAM has no page behind it.
    if (opened->ram_bytes != restored_config.memory_bytes) {
      return Error{"snapshot '" + requested.restore_dir + "': its RAM file holds " + std::to_string(opened->ram_bytes) +
                   " bytes, but its machine has " + std::to_string(restored_config.memory_bytes)};
    }
    snapshot = std::move(*opened);
  }
  const MachineConfig& config = snapshot ? restored_config : requested;
  std::optional<SnapshotOutput> snapshot_output;
  if (!config.snapshot_dir.empty()) {
    if (auto possible = check_snapshottable(config); !possible) return possible.error();
    auto output = create_snapshot_output(config.snapshot_dir);
    if (!output) return output.error();
    snapshot_output = std::move(*output);
  }
  if (auto ram = check_host_ram(config.memory_bytes); !ram) return ram.error();

  // Everything about the images is checked before /dev/kvm is touched, so a
  // bad image gets its own message on any host. (A restore has none: the
  // kernel is in the snapshot's RAM.)
  // The kernel's head now, its format once every input file was found: a
  // huge file that is no kernel is refused without reading it all.
  // ELF and bzImage kernels and their initrd are not read here: the loader
  // reads the pieces it loads from the open files, straight into guest RAM
  // (boot/image_bytes.h). Multiboot kernels and their initrd are read whole.
  OpenedFile kernel_file, initrd_file;
  FileBytes head, initrd;
  std::vector<FileBytes> module_files;
  std::vector<boot::BootModule> modules;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> fw_cfg_files;
  boot::ImageBytes kernel_image, initrd_image;
  if (!snapshot) {
    auto opened_kernel = open_input_file(config.kernel_path, "kernel", config.memory_bytes);
    if (!opened_kernel) return opened_kernel.error();
    kernel_file = std::move(*opened_kernel);
    auto read_head = read_opened_file(kernel_file, config.kernel_path, "kernel", boot::kKernelHeadBytes);
    if (!read_head) return read_head.error();
    head = std::move(*read_head);
    const bool whole = boot::loads_from_memory_only(head);
    if (!config.initrd_path.empty()) {
      auto opened = open_input_file(config.initrd_path, "initrd", config.memory_bytes);
      if (!opened) return opened.error();
      initrd_file = std::move(*opened);
      if (whole) {
        auto read = read_opened_file(initrd_file, config.initrd_path, "initrd", initrd_file.size);
        if (!read) return read.error();
        initrd = std::move(*read);
      }
    }
    module_files.reserve(config.modules.size());  // the spans below point into these
    for (const auto& module : config.modules) {
      const std::string path = module.substr(0, module.find(' '));
      auto read = read_whole_file(path, "module", config.memory_bytes);
      if (!read) return read.error();
      module_files.push_back(std::move(*read));
      modules.push_back({module_files.back(), module});
    }
    for (const auto& file : config.fw_cfg_files) {
      if (file.path.empty()) {
        fw_cfg_files.emplace_back(file.name, std::vector<uint8_t>(file.text.begin(), file.text.end()));
        continue;
      }
      auto read = read_whole_file(file.path, "fw_cfg file", config.memory_bytes);
      if (!read) return read.error();
      fw_cfg_files.emplace_back(file.name, std::vector<uint8_t>(read->begin(), read->end()));
    }
    if (auto unknown = boot::unrecognized_kernel(head)) return Error{"kernel '" + config.kernel_path + "' " + unknown->message};
    if (whole && head.size() < kernel_file.size) {
      auto read_kernel = read_opened_file(kernel_file, config.kernel_path, "kernel", kernel_file.size);
      if (!read_kernel) return read_kernel.error();
      head = std::move(*read_kernel);
    }
    kernel_image = boot::ImageBytes{head, kernel_file.fd.get(), kernel_file.size};
    initrd_image = whole ? boot::ImageBytes{initrd} : boot::ImageBytes{{}, initrd_file.fd.get(), initrd_file.size};
  }

  std::vector<virtio::DiskImage> disks;
  for (const auto& disk : config.disks) {
    using DiskAccess = virtio::DiskImage::Access;
    auto opened = virtio::DiskImage::open(disk.path, disk.overlay     ? DiskAccess::kOverlay
                                                     : disk.read_only ? DiskAccess::kReadOnly
                                                                      : DiskAccess::kReadWrite);
    if (!opened) return opened.error();
    // A restore's disk must be the snapshot's, unchanged: checked on the
    // file opened, which is what the guest sees (a path checked before the
    // open could name another file by then).
    if (disk.from_snapshot && opened->identity() != disk.from_snapshot->identity) {
      return Error{"disk '" + disk.path + "' is not " + disk.from_snapshot->which + ", or it changed since the snapshot was taken " +
                   "(its file, size or modification time differ); the restored guest's view of it would be wrong"};
    }
    disks.push_back(std::move(*opened));
  }
  std::vector<virtio::Tap> taps;
  for (const auto& net : config.nets) {
    auto opened = virtio::Tap::open(net.tap);
    if (!opened) return opened.error();
    taps.push_back(std::move(*opened));
  }
  std::unique_ptr<virtio::VsockDevice> vsock;
  if (config.vsock) {
    auto created = virtio::VsockDevice::create(config.vsock->cid, config.vsock->socket_path);
    if (!created) return created.error();
    vsock = std::move(*created);
  }
  // Without a device tree, Linux finds virtio-mmio devices through the
  // command line (there is no ACPI), one parameter per device in slot order.
  const bool device_tree = config.description == MachineConfig::Description::DeviceTree;
  std::string cmdline = config.cmdline;
  if (config.virtio_transport == MachineConfig::VirtioTransport::Mmio && !device_tree) {
    for (unsigned slot = 0; slot < config.virtio_device_count(); ++slot) cmdline += " " + virtio::kernel_parameter(slot);
  }

  // A vhost-user backend maps guest RAM itself: memfds, shared. A restore
  // maps the snapshot's RAM copy-on-write.
  auto memory = snapshot ? GuestMemory::map_copy_on_write(ram_regions_for(config.memory_bytes), snapshot->ram.get())
                         : GuestMemory::create(ram_regions_for(config.memory_bytes),
                                               config.shares.empty() ? GuestMemory::Sharing::kPrivate : GuestMemory::Sharing::kShareable);
  if (!memory) return memory.error();
  std::optional<boot::EntryPoint> entry;
  if (!snapshot) {
    const boot::BootInputs inputs{kernel_image, initrd_image, cmdline, config.kernel_path, config.initrd_path, modules};
    auto loaded = boot::load_kernel(*memory, inputs);
    if (!loaded) return Error{"kernel '" + config.kernel_path + "' " + loaded.error().message};
    entry = *loaded;
    // Only the Linux 64-bit boot protocol has a setup_data chain; PVH's
    // hvm_start_info and multiboot's information have no place for a tree.
    if (device_tree && entry->mode != boot::EntryMode::Long64) {
      return Error{"--describe-machine dtb needs a Linux bzImage (the tree travels in boot_params' setup_data); kernel '" +
                   config.kernel_path + "' boots through PVH or multiboot, which have no place for it"};
    }
    if (auto tables = boot::write_boot_tables(*memory, entry->mode); !tables) return tables.error();
    if (!device_tree) {
      if (auto mp = boot::write_mp_table(*memory, config.cpus, ioapic_id(config.cpus)); !mp) return mp.error();
    }
  }

  auto console = open_console(config.console, config);
  if (!console) return console.error();

  auto kvm = kvm::Kvm::open();
  if (!kvm) return kvm.error();
  if (config.cpus > static_cast<uint32_t>(kvm->max_vcpus())) {
    return Error{"--cpus " + std::to_string(config.cpus) + " is more than this host's KVM allows (" +
                 std::to_string(kvm->max_vcpus()) + ")"};
  }
  auto vm = kvm::Vm::create(*kvm);
  if (!vm) return vm.error();
  // x2APIC and TSC-deadline need the guest's APIC MSRs in userspace; hosts
  // whose KVM cannot send them keep those features hidden (cpuid_profile).
  // First of all the VM's set-up: KVM_X86_SET_MSR_FILTER waits for an SRCU
  // grace period (synchronize_srcu), which SRCU expedites while the VM's
  // srcu_struct looks idle, but not within exp_holdoff (25 us) of another
  // grace period, such as the ones registering a coalesced port or a TSS
  // memslot end with. After those the filter cost 12-16 ms of an 18 ms
  // start-up; first, 35-55 us (host kernel 6.18; bench/README.md, "Where
  // this machine's start-up went").
  const bool msr_exits = kvm->supports_msr_exits();
  if (msr_exits) {
    // KVM would handle these three itself: filter them (PV EOI is ember's,
    // irq/pv_eoi.h). The x2APIC range cannot be filtered and arrives as
    // accesses KVM would fault.
    const kvm::Vm::MsrRange lapic_msrs[] = {{Lapic::kApicBaseMsr, 1}, {Lapic::kTscDeadlineMsr, 1}, {PvEoi::kMsr, 1}};
    if (auto trapped = vm->trap_msrs(lapic_msrs); !trapped) return trapped.error();
  }

  if (auto tss = vm->set_tss_address(kTssAddress); !tss) return tss.error();
  // The RTC's index port: a write selects a register and nothing else, so
  // KVM may record it without an exit (kvm/coalesced_pio.h).
  const int coalesced_ring_page = kvm->coalesced_pio_ring_page();
  if (coalesced_ring_page > 0) {
    if (auto coalesced = vm->coalesce_port_writes(CmosRtc::kIndexPort, 1); !coalesced) return coalesced.error();
  }

  // Shared directories: ember's own virtiofsd processes start now, while
  // ember may still make namespaces, and every backend's socket is
  // connected before the privileges go.
  std::vector<virtio::VirtiofsdProcess> virtiofsd;
  std::vector<FileDescriptor> share_sockets;
  for (const auto& share : config.shares) {
    const std::string name = "virtio-fs '" + share.tag + "'";
    if (share.socket_path.empty()) {
      auto started = virtio::VirtiofsdProcess::start(share.host_dir, share.read_only);
      if (!started) return Error{name + ": " + started.error().message};
      share_sockets.push_back(started->take_connection());
      virtiofsd.push_back(std::move(*started));
    } else {
      auto connected = virtio::VhostUserBackend::connect_socket(share.socket_path, name);
      if (!connected) return connected.error();
      share_sockets.push_back(std::move(*connected));
    }
  }

  // Everything ember opens is open: drop privileges before the machine
  // starts its first thread (the PIT's), so no thread keeps them, and block
  // the stop signals, so every thread inherits them blocked and only the
  // caller's sigwait takes them (base/stop_signals.h).
  block_stop_signals();
  std::optional<RunAs> run_as;
  if (config.run_as) run_as = RunAs{config.run_as->uid, config.run_as->gid};
  if (auto dropped = drop_privileges(run_as); !dropped) return dropped.error();

  std::unique_ptr<Machine> machine{
      new Machine(config, std::move(*memory), std::move(*kvm), std::move(*vm), std::move(*console))};
  machine->coalesced_pio_ring_page_ = coalesced_ring_page;
  machine->virtiofsd_ = std::move(virtiofsd);
  machine->snapshot_output_ = std::move(snapshot_output);
  if (machine->snapshot_output_) {
    // The MSRs a snapshot saves: KVM's list, without those ember's LAPIC
    // owns (the APIC base, the TSC deadline and the x2APIC range).
    auto msrs = machine->kvm_.msr_index_list();
    if (!msrs) return msrs.error();
    for (const uint32_t index : *msrs) {
      if (index == Lapic::kApicBaseMsr || index == Lapic::kTscDeadlineMsr || (index >= 0x800 && index <= 0x8ff)) continue;
      machine->snapshot_msrs_.push_back(index);
    }
  }
  uint32_t slot = 0;
  for (const auto& region : machine->memory_.regions()) {
    if (auto mapped = machine->vm_.map_memory(slot++, region.guest_address, region.size, region.host); !mapped) {
      return mapped.error();
    }
  }
  if (auto devices = machine->add_devices(std::move(fw_cfg_files), std::move(disks), std::move(taps), std::move(vsock),
                                         std::move(share_sockets));
      !devices) {
    return devices.error();
  }
  if (config.acpi_tables() && !snapshot) {  // a restored guest has its tables in its RAM
    // Built now: they list the devices just added.
    if (auto tables = boot::write_acpi_tables(machine->memory_, machine->description()); !tables) return tables.error();
  }
  if (device_tree) {
    // Built now: it lists the devices just added.
    auto tree = machine->device_tree();
    if (!tree) return tree.error();
    auto added =
        boot::add_setup_data(machine->memory_, entry->boot_info, layout::kSetupData, layout::kEbdaStart, boot::kSetupDtb, *tree);
    if (!added) return Error{"cannot hand the device tree to the guest: " + added.error().message};
  }
  if (auto vcpus = machine->create_vcpus(entry ? &*entry : nullptr, msr_exits); !vcpus) return vcpus.error();
  if (snapshot) {
    machine->command_port_.set_command(config.restore_command);
    if (auto restored = machine->restore_state(snapshot->state); !restored) {
      return Error{"snapshot '" + config.restore_dir + "': " + restored.error().message};
    }
  }
  machine->halt_census_.set_wake_sources([raw = machine.get()] {
    if (raw->ioapic_.routes_wake_events()) return true;
    return std::any_of(raw->pci_transports_.begin(), raw->pci_transports_.end(),
                       [](virtio::PciTransport* transport) { return transport->routes_wake_events(); });
  });
  return machine;
}

Machine::Machine(const MachineConfig& config, GuestMemory memory, kvm::Kvm kvm, kvm::Vm vm,
                 std::unique_ptr<ConsoleOutput> console)
    : config_{config},
      memory_{std::move(memory)},
      kvm_{std::move(kvm)},
      vm_{std::move(vm)},
      console_{std::move(console)},
      ioapic_{router_, ioapic_id(config.cpus)},
      uart_{config.console.kind == ConsoleConfig::Kind::Virtio ? discarded_output_ : *console_, uart_irq_},
      pit_{pit_irq_, [this] { return clock_.now(); }},
      exit_port_{*this, config.exit_device} {}

Machine::~Machine() {
  // The timer threads raise interrupts through the router into the VCPUs'
  // mailboxes: they stop before the runners (declared after them) go.
  cmos_rtc_.stop();
  pit_.stop();
}

Status Machine::add_devices(std::vector<std::pair<std::string, std::vector<uint8_t>>> fw_cfg_files,
                            std::vector<virtio::DiskImage> disks, std::vector<virtio::Tap> taps,
                            std::unique_ptr<virtio::VsockDevice> vsock, std::vector<FileDescriptor> share_sockets) {
  if (auto filled = fill_fw_cfg(std::move(fw_cfg_files)); !filled) return filled;
  pci_.set_window_listener([this](PciFunction& function, std::optional<PciFunction::Window> before,
                                  std::optional<PciFunction::Window> after) { move_pci_notifiers(function, before, after); });
  for (size_t i = 0; i < disks.size(); ++i) {
    auto added = add_virtio_device(std::make_unique<virtio::BlockDevice>(std::move(disks[i]), config_.disks[i].queues));
    if (!added) return added;
  }
  for (size_t i = 0; i < taps.size(); ++i) {
    auto added = add_virtio_device(std::make_unique<virtio::NetDevice>(std::move(taps[i]), config_.nets[i].mac));
    if (!added) return added;
  }
  if (config_.rng) {
    if (auto added = add_virtio_device(std::make_unique<virtio::RngDevice>()); !added) return added;
  }
  if (config_.console.kind == ConsoleConfig::Kind::Virtio) {
    auto added = add_virtio_device(std::make_unique<virtio::ConsoleDevice>(*console_, STDIN_FILENO));
    if (!added) return added;
  }
  if (vsock) {
    if (auto added = add_virtio_device(std::move(vsock)); !added) return added;
  }
  for (size_t i = 0; i < share_sockets.size(); ++i) {
    const std::string& tag = config_.shares[i].tag;
    // A backend that dies, hangs or misbehaves ends the run, named.
    auto backend = virtio::VhostUserBackend::attach(std::move(share_sockets[i]), "virtio-fs '" + tag + "'", memory_,
                                                    1 + virtio::FsDevice::kRequestQueues, [this](const std::string& why) {
                                                      request_stop(Outcome{Outcome::Kind::HostError, 0, why});
                                                    });
    if (!backend) return backend.error();
    auto device = std::make_unique<virtio::FsDevice>(tag, std::move(*backend));
    vhost_user_backends_.push_back(&device->backend());
    if (auto added = add_virtio_device(std::move(device)); !added) return added;
  }
  // pvpanic on PCI bus 0 with either transport, after any virtio-pci
  // functions so their slots and BARs stay where the README says; its BAR
  // takes the next slot's place in the window.
  const uint64_t pvpanic_bar = PciBus::kWindowBase + (pci_transports_.size() + 1) * virtio::PciTransport::kBarSize;
  pvpanic_ = std::make_unique<PvpanicPci>(*this, pvpanic_bar);
  if (!pci_.add(*pvpanic_)) return Error{"PCI bus 0 has no free slot for pvpanic"};
  for (const auto& [base, length, device] : {
           std::tuple<uint64_t, uint64_t, Device*>{platform::kCom1Port, Uart16550::kRegisterCount, &uart_},
           {ExitPort::kPort, 1, &exit_port_},
           {I8042::kDataPort, 1, &i8042_},
           {I8042::kCommandPort, 1, &i8042_},
           {PostCodePort::kPort, 1, &post_code_},
           {CmosRtc::kIndexPort, CmosRtc::kPortCount, &cmos_rtc_},
           {BootTimer::kPort, 1, &boot_timer_},
           {CommandPort::kPort, 1, &command_port_},
           {Pit8254::kBasePort, Pit8254::kPortCount, &pit_},
           {SystemControlPort::kPort, 1, &system_control_},
           {Pic8259Pair::kMasterPort, 2, &pic_},
           {Pic8259Pair::kSlavePort, 2, &pic_},
           {Pic8259Pair::kElcrPort, 2, &pic_},
           {FwCfg::kBasePort, FwCfg::kPortCount, &fw_cfg_},
           {PciBus::kConfigAddressPort, PciBus::kPortCount, &pci_.config_ports()},
       }) {
    if (auto inserted = pio_bus_.insert(base, length, *device); !inserted) return inserted.error();
  }
  cmos_rtc_.start();
  if (config_.acpi_tables()) {
    if (auto inserted = pio_bus_.insert(AcpiPm::kBasePort, AcpiPm::kPortCount, acpi_pm_); !inserted) return inserted.error();
  }
  for (const auto& [base, length, device] : {
           std::tuple<uint64_t, uint64_t, Device*>{Ioapic::kMmioBase, Ioapic::kMmioSize, &ioapic_},
           {PciBus::kWindowBase, PciBus::kWindowSize, &pci_.window()},
       }) {
    if (auto inserted = mmio_bus_.insert(base, length, *device); !inserted) return inserted.error();
  }
  if (config_.test_device) {
    test_device_ = std::make_unique<PcTestdev>(pic_, ioapic_);
    if (auto inserted = pio_bus_.insert(PcTestdev::kPortBase, PcTestdev::kPortCount, test_device_->ports()); !inserted) {
      return inserted.error();
    }
    if (auto inserted = pio_bus_.insert(PcTestdev::kIrqLineBase, PcTestdev::kIrqLineCount, test_device_->irq_lines());
        !inserted) {
      return inserted.error();
    }
    if (auto inserted = mmio_bus_.insert(PcTestdev::kIomemBase, PcTestdev::kIomemSize, test_device_->iomem()); !inserted) {
      return inserted.error();
    }
  }
  return {};
}

Status Machine::add_virtio_device(std::unique_ptr<virtio::VirtioDevice> device) {
  if (virtio_devices_.size() >= config_.max_virtio_devices()) {
    return Error{"at most " + std::to_string(config_.max_virtio_devices()) + " virtio devices fit"};
  }
  virtio::VirtioDevice& added = *virtio_devices_.emplace_back(std::move(device));
  return config_.virtio_transport == MachineConfig::VirtioTransport::Pci ? add_pci_transport(added) : add_mmio_transport(added);
}

void Machine::set_notifiers(const virtio::Transport& transport, uint32_t length,
                            const std::function<uint64_t(uint16_t)>& address_of, bool assign) {
  // Queue notifications go straight to the worker (KVM_IOEVENTFD), matched
  // on the queue index the driver writes; where KVM refuses, they arrive as
  // exits to ember and take the same path.
  for (uint16_t queue = 0; queue < transport.queue_count(); ++queue) {
    const auto address = address_of(queue);
    auto done = assign ? vm_.add_ioeventfd(address, length, queue, transport.notify_eventfd(queue))
                       : vm_.remove_ioeventfd(address, length, queue, transport.notify_eventfd(queue));
    if (!done) {
      // The guest places PCI BARs, overlapping ones included, and may move
      // them as often as it likes: the warning is rate-limited.
      EMBER_GUEST_WARNING(std::string(transport.name()) + ": queue notifications " +
                          (assign ? "will exit to ember: " : "stay at " + hex(address) + ": ") + done.error().message);
      return;
    }
  }
}

Status Machine::add_mmio_transport(virtio::VirtioDevice& device) {
  const auto slot = static_cast<unsigned>(virtio_transports_.size());
  auto& pin = virtio_pins_.emplace_back(std::make_unique<IoapicPin>(ioapic_, virtio::kFirstPin + slot));
  auto transport = std::make_unique<virtio::MmioTransport>(memory_, device, *pin);
  const uint64_t base = virtio::mmio_address(slot);
  if (auto inserted = mmio_bus_.insert(base, virtio::MmioTransport::kSize, *transport); !inserted) return inserted.error();
  // Linux writes the queue's index, 32 bits, to QueueNotify.
  set_notifiers(*transport, 4, [base](uint16_t) { return base + virtio::MmioTransport::kQueueNotifyOffset; }, true);
  virtio_transports_.push_back(std::move(transport));
  return {};
}

Status Machine::add_pci_transport(virtio::VirtioDevice& device) {
  // Each slot's BAR gets its own kBarSize-aligned place in the window.
  const auto slot = static_cast<unsigned>(virtio_transports_.size()) + 1;  // slot 0 is the host bridge
  const uint64_t bar = PciBus::kWindowBase + slot * virtio::PciTransport::kBarSize;
  auto transport = std::make_unique<virtio::PciTransport>(memory_, device, msi_, bar);
  if (pci_.add(*transport) != slot) return Error{"PCI bus 0 has no free slot"};
  // Its queue notifiers follow the BAR (move_pci_notifiers) once the guest
  // turns memory decoding on.
  pci_transports_.push_back(transport.get());
  virtio_transports_.push_back(std::move(transport));
  return {};
}

void Machine::move_pci_notifiers(PciFunction& function, std::optional<PciFunction::Window> before,
                                 std::optional<PciFunction::Window> after) {
  const auto found = std::find_if(pci_transports_.begin(), pci_transports_.end(),
                                  [&function](const virtio::PciTransport* transport) { return transport == &function; });
  if (found == pci_transports_.end()) return;
  // Linux writes the queue's index, 16 bits, to the queue's own address.
  const auto notifiers_at = [](uint64_t bar) {
    return [bar](uint16_t queue) {
      return bar + virtio::PciTransport::kNotifyOffset + uint64_t{virtio::PciTransport::kNotifyMultiplier} * queue;
    };
  };
  // Only inside the bus's window, where the BAR decodes; elsewhere the
  // notifiers could catch writes meant for something else.
  if (before && PciBus::in_window(*before)) set_notifiers(**found, 2, notifiers_at(before->address), false);
  if (after && PciBus::in_window(*after)) set_notifiers(**found, 2, notifiers_at(after->address), true);
}

Status Machine::fill_fw_cfg(std::vector<std::pair<std::string, std::vector<uint8_t>>> files) {
  // What guests built for QEMU's PC machine read (QEMU hw/i386/fw_cfg.c,
  // hw/nvram/fw_cfg.c): little-endian numbers, the command line with its
  // NUL, and the e820 map as "etc/e820".
  const auto little_endian = [](uint64_t value, size_t bytes) {
    std::vector<uint8_t> out(bytes);
    for (size_t i = 0; i < bytes; ++i) out[i] = static_cast<uint8_t>(value >> (8 * i));
    return out;
  };
  fw_cfg_.add_item(FwCfg::kUuid, std::vector<uint8_t>(16, 0));
  fw_cfg_.add_item(FwCfg::kRamSize, little_endian(config_.memory_bytes, 8));
  fw_cfg_.add_item(FwCfg::kNoGraphic, little_endian(1, 2));
  fw_cfg_.add_item(FwCfg::kNbCpus, little_endian(config_.cpus, 2));
  fw_cfg_.add_item(FwCfg::kMaxCpus, little_endian(config_.cpus, 2));
  fw_cfg_.add_item(FwCfg::kCmdlineSize, little_endian(config_.cmdline.size() + 1, 4));
  std::vector<uint8_t> cmdline(config_.cmdline.begin(), config_.cmdline.end());
  cmdline.push_back(0);
  fw_cfg_.add_item(FwCfg::kCmdlineData, std::move(cmdline));
  std::vector<uint8_t> e820;
  for (const auto& entry : boot::e820_map(memory_)) {
    for (const auto& field : {little_endian(entry.address, 8), little_endian(entry.size, 8), little_endian(entry.type, 4)}) {
      e820.insert(e820.end(), field.begin(), field.end());
    }
  }
  if (auto added = fw_cfg_.add_file("etc/e820", std::move(e820)); !added) return added;
  for (auto& [name, bytes] : files) {
    if (auto added = fw_cfg_.add_file(name, std::move(bytes)); !added) return added;
  }
  return {};
}

Status Machine::create_vcpus(const boot::EntryPoint* entry, bool msr_exits) {
  auto supported = kvm_.supported_cpuid();
  if (!supported) return supported.error();
  for (uint32_t index = 0; index < config_.cpus; ++index) {
    auto vcpu = vm_.create_vcpu(index);
    if (!vcpu) return vcpu.error();
    const auto khz = vcpu->tsc_khz();
    const uint64_t tsc_khz = msr_exits && khz ? *khz : 0;
    // PV EOI only where KVM's leaf offers it (its MSR exists) and the MSR
    // reaches ember (trapped with the LAPIC's).
    const LapicFeatures features{.x2apic = msr_exits, .tsc_deadline = tsc_khz != 0, .pv_eoi = msr_exits && kvm_offers_pv_eoi(*supported)};
    const auto cpuid = cpuid_for_vcpu(*supported, index, config_.cpus, features);
    if (auto set = vcpu->set_cpuid(cpuid); !set) return set.error();
    if (auto msrs = set_boot_msrs(*vcpu, index == 0); !msrs) return msrs.error();
    if (index == 0 && entry != nullptr) {  // a restore sets every register from its snapshot
      if (auto registers = boot::set_entry_registers(*vcpu, *entry); !registers) return registers.error();
    }
    auto runner = std::make_unique<VcpuRunner>(index, std::move(*vcpu), Buses{pio_bus_, mmio_bus_}, *this, halt_census_,
                                               stopping_, router_, ioapic_, tsc_khz, memory_, physical_address_bits(cpuid), clock_);
    router_.attach({&runner->mailbox(), &runner->addressing(), runner.get()});
    if (features.pv_eoi) runner->set_pv_eoi_available();
    if (coalesced_pio_ring_page_ > 0 && !runner->use_coalesced_pio(coalesced_pio_, coalesced_pio_ring_page_)) {
      return Error{"KVM offers coalesced port I/O at page " + std::to_string(coalesced_pio_ring_page_) +
                   " of the VCPU mapping, which is shorter than that"};
    }
    if (index == 0) {
      // The 8259's INT output drives the boot VCPU's LINT0.
      runner->connect_extint(pic_);
      pic_.connect_output(*runner);
    }
    runners_.push_back(std::move(runner));
  }
  return {};
}

boot::MachineDescription Machine::description() const {
  boot::MachineDescription description{config_.cpus, {}, ioapic_id(config_.cpus), {}};
  for (const auto& region : memory_.regions()) description.ram.push_back({region.guest_address, region.size});
  const bool mmio = config_.virtio_transport == MachineConfig::VirtioTransport::Mmio;
  for (unsigned slot = 0; mmio && slot < virtio_transports_.size(); ++slot) {
    description.virtio.push_back({virtio::mmio_address(slot), virtio::MmioTransport::kSize, virtio::kFirstPin + slot});
  }
  return description;
}

Result<std::vector<uint8_t>> Machine::device_tree() const { return boot::build_device_tree(description()); }

void Machine::request_stop(Outcome outcome) {
  {
    std::lock_guard lock{outcome_mutex_};
    if (!outcome_) outcome_ = std::move(outcome);
  }
  stopping_.store(true, std::memory_order_release);
  // A device waiting for console room (a stalled reader) lets go, so its
  // VCPU or worker sees the stop.
  console_->release();
  outcome_changed_.notify_all();
  for (auto& runner : runners_) runner->kick();
}

Outcome Machine::run(std::optional<std::chrono::milliseconds> timeout) {
  install_kick_handler();
  if (config_.seccomp) {
    // Every thread that exists (the PIT's, the RTC's, the caller's) and every later one.
    if (auto lent = start_fd_courier(); !lent) return Outcome{Outcome::Kind::HostError, 0, lent.error().message};
    if (auto filtered = install_process_filter({.vsock = config_.vsock.has_value()}); !filtered) {
      return Outcome{Outcome::Kind::HostError, 0, filtered.error().message};
    }
    // The test suite's proof of what the process filter alone refuses
    // (EMBER_SECCOMP_SELF_TEST=main:WHICH; tests/linux/linux_virtiofs_test.cpp).
    if (const char* self_test = std::getenv("EMBER_SECCOMP_SELF_TEST"); self_test != nullptr) {
      if (const std::string_view which{self_test}; which.starts_with("main:")) seccomp_self_test(which.substr(5));
    }
  }
  console_->start();
  run_started_ns_ = monotonic_ns();
  boot_timer_.start();
  std::optional<ConsoleInput> input;
  if (config_.console.kind == ConsoleConfig::Kind::Stdio) input.emplace(STDIN_FILENO, uart_);

  std::vector<std::thread> threads;
  for (size_t i = 0; i < runners_.size(); ++i) {
    threads.emplace_back([runner = runners_[i].get(), boot_vcpu = i == 0, seccomp = config_.seccomp] {
      runner->run(boot_vcpu, seccomp);
    });
  }

  {
    std::unique_lock lock{outcome_mutex_};
    const auto stopped = [this] { return outcome_.has_value(); };
    if (timeout) {
      if (!outcome_changed_.wait_for(lock, *timeout, stopped)) {
        lock.unlock();
        request_stop(Outcome{Outcome::Kind::Timeout, 0, {}});
      }
    } else {
      outcome_changed_.wait(lock, stopped);
    }
  }
  for (auto& thread : threads) thread.join();
  run_ended_ns_ = monotonic_ns();
  // No guest reads the console any more; its input thread stops before a
  // snapshot is saved, since what it feeds the UART raises interrupts.
  input.reset();
  {
    std::lock_guard lock{outcome_mutex_};
    if (outcome_->kind == Outcome::Kind::Snapshot) {
      if (auto saved = save_snapshot(); !saved) outcome_ = Outcome{Outcome::Kind::HostError, 0, saved.error().message};
    }
  }
  stop_devices();
  // What the guest wrote last reaches the console, unless its reader has
  // stopped reading: then ember exits after kConsoleDrainLimit without progress.
  if (const auto lost = console_->finish(kConsoleDrainLimit); lost.total() != 0) {
    std::string why;
    if (lost.unread != 0) why += std::to_string(lost.unread) + " queued when its reader stopped reading";
    if (lost.after_stop != 0) why += (why.empty() ? "" : ", ") + std::to_string(lost.after_stop) + " written as the guest was stopped, with the console full";
    if (lost.failed != 0) why += (why.empty() ? "" : ", ") + std::to_string(lost.failed) + " lost to console write errors";
    log::warning("console: " + std::to_string(lost.total()) + " bytes of guest output were not written (" + why + ")");
  }
  std::lock_guard lock{outcome_mutex_};
  if (outcome_->kind == Outcome::Kind::Timeout || outcome_->kind == Outcome::Kind::Signal) {
    // Where each VCPU was, to look up in the kernel's symbols: a guest that
    // hung ends one of these two ways.
    for (size_t i = 0; i < runners_.size(); ++i) {
      outcome_->detail += (i == 0 ? "" : "\n") + std::string("VCPU ") + std::to_string(i) + ": " + runners_[i]->final_state();
    }
  }
  return *outcome_;
}

Status Machine::start_fd_courier() {
  if (vhost_user_backends_.empty()) return {};
  std::vector<int> lendable;
  for (auto* backend : vhost_user_backends_) {
    const auto fds = backend->lendable_fds();
    lendable.insert(lendable.end(), fds.begin(), fds.end());
  }
  for (auto& transport : virtio_transports_) {
    if (!transport->lends_rings()) continue;
    for (uint16_t queue = 0; queue < transport->queue_count(); ++queue) lendable.push_back(transport->notify_eventfd(queue));
  }
  auto courier = FdCourier::start(lendable);
  if (!courier) return courier.error();
  fd_courier_.emplace(std::move(*courier));
  for (auto* backend : vhost_user_backends_) backend->send_through(*fd_courier_);
  return {};
}

void Machine::on_doorbell() {
  // Without --out the port only answers (a restored guest reads its command).
  if (!snapshot_output_ || snapshot_started_.exchange(true)) return;
  for (size_t i = 0; i < runners_.size(); ++i) {
    std::function<void()> read_clock;
    if (i == 0) {
      // The kvmclock next to VCPU 0's TSC (restore_state sets them so too).
      read_clock = [this] {
        saved_machine_ns_ = clock_.now();
        if (auto clock = vm_.clock()) saved_kvm_clock_ = *clock;
      };
    }
    runners_[i]->save_at_stop(snapshot_msrs_, std::move(read_clock));
  }
  request_stop(Outcome{Outcome::Kind::Snapshot, 0, {}});
}

Status Machine::save_snapshot() {
  // Nothing may change the machine while it is written: each transport's
  // workers finish the request in flight (its interrupt posted) and stop,
  // and the PIT and RTC threads stop. Then what they posted into a VCPU's
  // mailbox after its thread read KVM's state goes into its LAPIC
  // (finish_save), so no interrupt is lost and no request runs twice.
  for (auto& transport : virtio_transports_) transport->stop_serving_for_save();
  pit_.stop();
  cmos_rtc_.stop();
  for (const auto& device : virtio_devices_) {
    if (auto why = device->why_not_snapshottable()) return Error{"cannot save the machine: " + *why};
  }
  for (const auto& runner : runners_) {
    runner->finish_save();
    if (runner->save_error()) return Error{"cannot save the machine: " + *runner->save_error()};
  }
  snapshot::StateWriter state;
  save_machine_config(config_, state.section("machine"));
  // The guest's own reading of its kvmclock, where it has one, else KVM's.
  const auto guest_clock = runners_.empty() ? std::nullopt : runners_[0]->saved_guest_clock();
  if (!guest_clock && !saved_kvm_clock_) return Error{"cannot save the machine: KVM_GET_CLOCK failed"};
  // The machine clock as VCPU 0's state was read, not now: the stop above
  // takes time the guest's TSC did not see.
  state.section("clock").u64(saved_machine_ns_).u64(guest_clock ? *guest_clock : *saved_kvm_clock_);
  for (size_t i = 0; i < runners_.size(); ++i) state.section("vcpu" + std::to_string(i)) = runners_[i]->saved_state();
  ioapic_.save(state.section("ioapic"));
  pic_.save(state.section("pic"));
  pit_.save(state.section("pit"));
  system_control_.save(state.section("port61"));
  uart_.save(state.section("uart"));
  cmos_rtc_.save(state.section("rtc"));
  i8042_.save(state.section("i8042"));
  acpi_pm_.save(state.section("acpi-pm"));
  pci_.save(state);
  for (size_t i = 0; i < virtio_transports_.size(); ++i) virtio_transports_[i]->save(state.section("virtio" + std::to_string(i)));
  return write_snapshot(*snapshot_output_, state.finish(), memory_);
}

Status Machine::restore_state(const snapshot::StateFile& state) {
  // Each device checks its section and changes nothing when it is wrong;
  // the guest has not run, so a refusal loses nothing.
  const auto restore = [&state](const std::string& name, auto& device) -> Status {
    auto section = state.section(name);
    if (!section) return Error{"its state file " + section.error().message};
    return device.restore(*section);
  };
  auto clock = state.section("clock");
  if (!clock) return Error{"its state file " + clock.error().message};
  const uint64_t machine_ns = clock->u64(), kvm_ns = clock->u64();
  if (auto done = clock->finish(); !done) return done;
  // The machine's clock goes on from the snapshot's reading: every saved
  // deadline stays right (base/clock.h).
  clock_.continue_from(machine_ns);
  // One after another, stopping at the first refusal.
  const std::function<Status()> chips[] = {
      [&] { return restore("ioapic", ioapic_); },          [&] { return restore("pic", pic_); },
      [&] { return restore("pit", pit_); },                [&] { return restore("port61", system_control_); },
      [&] { return restore("uart", uart_); },              [&] { return restore("rtc", cmos_rtc_); },
      [&] { return restore("i8042", i8042_); },            [&] { return restore("acpi-pm", acpi_pm_); },
  };
  for (const auto& chip : chips) {
    if (auto done = chip(); !done) return done;
  }
  if (auto done = pci_.restore(state); !done) return done;
  for (size_t i = 0; i < virtio_transports_.size(); ++i) {
    if (auto done = restore("virtio" + std::to_string(i), *virtio_transports_[i]); !done) return done;
  }
  // VCPU 0 first: its TSC write is the one KVM synchronises the others'
  // to (writes within a second of it match it), and the kvmclock is set
  // below with the time since that write added, so the guest's two clocks
  // keep the relation they had (a gap between them is a skew the kernel's
  // clocksource watchdog reports).
  for (size_t i = 0; i < runners_.size(); ++i) {
    if (auto done = restore("vcpu" + std::to_string(i), *runners_[i]); !done) return done;
  }
  // The guest's kvmclock goes on from its reading too: no time passed for
  // it, so no watchdog or RCU stall fires. Its wall clock is set by init
  // from the command port.
  // The time since VCPU 0's TSC was set is added: the ioctls between take
  // hundreds of microseconds in the nested tier, which the kernel's
  // clocksource watchdog would see as a skew between the two.
  const uint64_t tsc_at = runners_.empty() ? 0 : runners_[0]->tsc_restored_at();
  if (auto set = vm_.set_clock(kvm_ns + (tsc_at == 0 ? 0 : monotonic_ns() - tsc_at)); !set) return set.error();
  // Only now may a device raise an interrupt: every LAPIC it could reach
  // is restored.
  for (auto& transport : virtio_transports_) transport->resume_after_restore();
  return {};
}

void Machine::stop_devices() {
  // No VCPU runs any more, so nothing reaches the transports through the
  // bus. Each transport's worker finishes the request in flight and stops;
  // then block devices write back what the guest wrote but never flushed
  // (BlockDevice's destructor). main leaves with _Exit, which runs no
  // destructor, so this is what makes SIGTERM lose nothing (README, "Exit codes";
  // VirtioPrograms.SigtermStopsCleanlyAndKeepsEveryAcknowledgedBlock).
  // ember's virtiofsd processes stop before their sockets close, on
  // SIGTERM (a closed socket makes them complain on stderr); their
  // backends expect it.
  for (auto* backend : vhost_user_backends_) backend->expect_close();
  for (auto& process : virtiofsd_) process.request_stop();  // all at once
  const auto deadline = std::chrono::steady_clock::now() + virtio::VirtiofsdProcess::kStopWait;
  for (auto& process : virtiofsd_) process.wait_stopped(deadline);
  virtio_transports_.clear();
  virtio_devices_.clear();
  // The RTC's interrupt thread sends through the router into the VCPUs'
  // mailboxes, which end with the runners.
  cmos_rtc_.stop();
}

Machine::Statistics Machine::statistics() const {
  // Names for the exits a guest causes (linux/kvm.h KVM_EXIT_*).
  static constexpr std::pair<uint32_t, const char*> kNames[] = {
      {KVM_EXIT_IO, "io"},           {KVM_EXIT_MMIO, "mmio"},          {KVM_EXIT_HLT, "hlt"},
      {KVM_EXIT_IRQ_WINDOW_OPEN, "irq_window"}, {KVM_EXIT_X86_RDMSR, "rdmsr"}, {KVM_EXIT_X86_WRMSR, "wrmsr"},
      {KVM_EXIT_INTERNAL_ERROR, "internal_error"}, {KVM_EXIT_SHUTDOWN, "shutdown"}, {KVM_EXIT_SYSTEM_EVENT, "system_event"},
      {KVM_EXIT_FAIL_ENTRY, "fail_entry"},
  };
  std::array<uint64_t, VcpuRunner::kExitReasons + 1> totals{};
  for (const auto& runner : runners_) {
    for (size_t i = 0; i < totals.size(); ++i) totals[i] += runner->exit_counts()[i];
  }
  Statistics statistics;
  statistics.wall_ns = run_ended_ns_ - run_started_ns_;
  statistics.init_reached_ns = boot_timer_.init_reached_ns();
  statistics.first_run_ns = runners_.empty() ? 0 : runners_.front()->first_run_ns();
  statistics.guest_resident_bytes = memory_.resident_bytes();
  uint64_t named = 0;
  for (const auto& [reason, name] : kNames) {
    if (reason < VcpuRunner::kExitReasons && totals[reason] != 0) {
      statistics.exits.emplace_back(name, totals[reason]);
      named += totals[reason];
    }
  }
  uint64_t all = 0;
  for (size_t i = 0; i < VcpuRunner::kExitReasons; ++i) all += totals[i];
  if (all > named) statistics.exits.emplace_back("other", all - named);
  if (totals[VcpuRunner::kExitReasons] != 0) statistics.exits.emplace_back("kicked", totals[VcpuRunner::kExitReasons]);
  return statistics;
}

}  // namespace ember
