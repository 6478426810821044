// A virtual machine assembled from a MachineConfig: guest RAM, the kernel
// loaded into it, the buses and devices, and one VcpuRunner per VCPU.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "base/clock.h"
#include "base/result.h"
#include "boot/boot_image.h"
#include "boot/machine_description.h"
#include "bus/bus.h"
#include "console/console_output.h"
#include "devices/acpi_pm.h"
#include "devices/boot_timer.h"
#include "devices/cmos_rtc.h"
#include "devices/exit_port.h"
#include "devices/fw_cfg.h"
#include "devices/i8042.h"
#include "devices/ioapic.h"
#include "devices/isa_irq.h"
#include "devices/pc_testdev.h"
#include "devices/pic8259.h"
#include "devices/pit8254.h"
#include "devices/post_code_port.h"
#include "devices/pvpanic_pci.h"
#include "devices/uart16550.h"
#include "irq/halt_census.h"
#include "irq/interrupt_line.h"
#include "irq/interrupt_router.h"
#include "irq/msi.h"
#include "kvm/kvm.h"
#include "kvm/vm.h"
#include "machine/machine_config.h"
#include "memory/guest_memory.h"
#include "pci/pci_bus.h"
#include "run/outcome.h"
#include "vcpu/vcpu_runner.h"
#include "virtio/vhost_user_backend.h"
#include "devices/command_port.h"
#include "machine/snapshot.h"
#include "security/fd_courier.h"
#include "virtio/virtiofsd_process.h"
#include "virtio/disk_image.h"
#include "virtio/mmio_transport.h"
#include "virtio/pci_transport.h"
#include "virtio/tap.h"
#include "virtio/virtio_device.h"
#include "virtio/vsock_device.h"

namespace ember {

class Machine final : public MachineControl {
 public:
  // Validates everything that depends on the host (files, KVM, host RAM)
  // before any guest code runs; errors are one sentence for the user.
  static Result<std::unique_ptr<Machine>> create(const MachineConfig& config);

  // The machine as a flattened device tree (boot/device_tree.h).
  Result<std::vector<uint8_t>> device_tree() const;
  // What the MP table, the device tree and the ACPI tables describe.
  boot::MachineDescription description() const;

  // Runs the guest until it exits, crashes, or `timeout` passes.
  Outcome run(std::optional<std::chrono::milliseconds> timeout);

  void request_stop(Outcome outcome) override;

  // What a finished run measured, for --report.
  struct Statistics {
    uint64_t                                    wall_ns = 0;
    std::optional<uint64_t>                     init_reached_ns;  // from the boot timer
    uint64_t                                    first_run_ns = 0;  // monotonic: the boot VCPU's first KVM_RUN
    uint64_t                                    guest_resident_bytes = 0;
    std::vector<std::pair<std::string, uint64_t>> exits;          // by reason, non-zero only
  };
  Statistics statistics() const;

  ~Machine() override;

 private:
  Machine(const MachineConfig& config, GuestMemory memory, kvm::Kvm kvm, kvm::Vm vm,
          std::unique_ptr<ConsoleOutput> console);
  Status add_devices(std::vector<std::pair<std::string, std::vector<uint8_t>>> fw_cfg_files, std::vector<virtio::DiskImage> disks,
                     std::vector<virtio::Tap> taps, std::unique_ptr<virtio::VsockDevice> vsock,
                     std::vector<FileDescriptor> share_sockets);
  Status add_virtio_device(std::unique_ptr<virtio::VirtioDevice> device);
  Status add_mmio_transport(virtio::VirtioDevice& device);
  Status add_pci_transport(virtio::VirtioDevice& device);
  // KVM_IOEVENTFD for each queue of `transport` at address_of(queue): added
  // (assign) or removed.
  void   set_notifiers(const virtio::Transport& transport, uint32_t length, const std::function<uint64_t(uint16_t)>& address_of,
                       bool assign);
  // The PCI bus's window listener: a virtio-pci function's notifiers follow
  // its BAR, and exist only while it decodes.
  void   move_pci_notifiers(PciFunction& function, std::optional<PciFunction::Window> before,
                            std::optional<PciFunction::Window> after);
  // After the run: stops the virtio workers and lets block devices flush.
  void   stop_devices();
  // Before the process filter: the courier that sends the vhost-user
  // backends' descriptors from then on (security/fd_courier.h).
  Status start_fd_courier();
  Status fill_fw_cfg(std::vector<std::pair<std::string, std::vector<uint8_t>>> files);
  Status create_vcpus(const boot::EntryPoint* entry, bool msr_exits);
  // Snapshots (machine/snapshot.h). The guest's init rang the command port:
  // with --out, every VCPU saves itself as it stops, and the run ends.
  void   on_doorbell();
  // After the VCPU threads ended: the state file, then both files.
  Status save_snapshot();
  // Before any thread runs: every section of `state` into its device.
  Status restore_state(const snapshot::StateFile& state);

  const MachineConfig            config_;
  MachineClock                   clock_;  // every device timer's time base; a restore sets it first
  GuestMemory                    memory_;
  kvm::Kvm                       kvm_;
  kvm::Vm                        vm_;
  std::unique_ptr<ConsoleOutput> console_;

  // Declaration order is construction order: the census before the router
  // that counts into it, the router before the IOAPIC and LAPICs that send
  // through it, the IOAPIC before the device lines wired to its pins.
  HaltCensus      halt_census_;
  InterruptRouter router_{&halt_census_};
  Ioapic          ioapic_;  // its ID follows the CPUs' APIC IDs (MP table)
  Pic8259Pair     pic_;
  IsaIrq          uart_irq_{pic_, platform::kCom1Irq, ioapic_, platform::ioapic_pin_of_isa_irq(platform::kCom1Irq)};
  IsaIrq          pit_irq_{pic_, 0, ioapic_, platform::ioapic_pin_of_isa_irq(0)};
  IsaIrq          keyboard_irq_{pic_, platform::kI8042KeyboardIrq, ioapic_, platform::ioapic_pin_of_isa_irq(platform::kI8042KeyboardIrq)};
  IsaIrq          aux_irq_{pic_, platform::kI8042MouseIrq, ioapic_, platform::ioapic_pin_of_isa_irq(platform::kI8042MouseIrq)};
  IsaIrq          rtc_irq_{pic_, platform::kRtcIrq, ioapic_, platform::ioapic_pin_of_isa_irq(platform::kRtcIrq)};
  NullConsoleOutput discarded_output_;  // the UART's, when the console is virtio
  Uart16550       uart_;
  Pit8254         pit_;
  SystemControlPort system_control_{pit_, [this] { return clock_.now(); }};
  ExitPort        exit_port_;
  I8042           i8042_{*this, keyboard_irq_, aux_irq_};
  AcpiPm          acpi_pm_{*this, [this] { return clock_.now(); }};  // on the bus only with ACPI tables
  PostCodePort    post_code_;
  CmosRtc         cmos_rtc_{rtc_irq_};
  BootTimer       boot_timer_;
  CommandPort     command_port_{CmosRtc::host_utc_ns, [this] { on_doorbell(); }};
  FwCfg           fw_cfg_{memory_};
  std::unique_ptr<PcTestdev> test_device_;  // with --test-device
  uint64_t        run_started_ns_ = 0, run_ended_ns_ = 0;
  // virtio devices: transports last, as their workers use the device and
  // the pin and must stop first. PCI bus 0 is there with or without them.
  RouterMsiSender msi_{router_};
  PciBus          pci_;
  std::unique_ptr<PvpanicPci> pvpanic_;  // on the bus after the virtio functions
  // `ember snapshot`: where it goes, and the MSRs each VCPU saves.
  std::optional<SnapshotOutput> snapshot_output_;
  std::vector<uint32_t>         snapshot_msrs_;
  std::atomic<bool>             snapshot_started_{false};
  std::optional<uint64_t>       saved_kvm_clock_;  // by VCPU 0's thread, read after it ended
  uint64_t                      saved_machine_ns_ = 0;  // the machine clock beside it, by the same thread
  // Sends the vhost-user backends' requests under seccomp; outlives them.
  std::optional<FdCourier>                           fd_courier_;
  std::vector<virtio::VirtiofsdProcess>              virtiofsd_;  // stopped in stop_devices, before the devices go
  std::vector<virtio::VhostUserBackend*>             vhost_user_backends_;  // of the virtio-fs devices
  std::vector<std::unique_ptr<virtio::VirtioDevice>> virtio_devices_;
  std::vector<std::unique_ptr<IoapicPin>>            virtio_pins_;
  std::vector<std::unique_ptr<virtio::Transport>>    virtio_transports_;
  std::vector<virtio::PciTransport*>                 pci_transports_;  // those of virtio_transports_ on PCI
  Bus             pio_bus_{"port I/O"};
  kvm::CoalescedPio coalesced_pio_;           // replayed by the VCPU threads on pio_bus_
  int               coalesced_pio_ring_page_ = 0;  // 0: KVM does not coalesce port I/O
  Bus             mmio_bus_{"MMIO"};

  std::atomic<bool>                        stopping_{false};
  std::vector<std::unique_ptr<VcpuRunner>> runners_;

  std::mutex              outcome_mutex_;  // guards outcome_
  std::condition_variable outcome_changed_;
  std::optional<Outcome>  outcome_;
};

}  // namespace ember
