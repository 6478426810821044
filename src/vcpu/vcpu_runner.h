// The thread that owns one VCPU, its LAPIC and its injection mailbox. Only
// this thread calls KVM_RUN, injects interrupts or touches the VCPU's
// registers and LAPIC (ARCHITECTURE.md, "The one rule"); other threads post to the
// mailbox and kick.
//
// Kick: the kick signal (vcpu/kick_signal.h) makes KVM_RUN return; a VCPU
// halted in userspace sleeps on a futex, which kick() wakes instead; a kick
// from the VCPU's own thread just sets immediate_exit. The LAPIC timer
// kicks through the same signal, from a POSIX timer aimed at this thread.
#pragma once

#include <pthread.h>
#include <time.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

#include "base/clock.h"
#include "base/signalable_thread.h"
#include "bus/bus.h"
#include "irq/extint_source.h"
#include "irq/halt_census.h"
#include "irq/injection_mailbox.h"
#include "irq/interrupt_router.h"
#include "irq/lapic.h"
#include "irq/pv_eoi.h"
#include "kvm/coalesced_pio.h"
#include "kvm/vcpu.h"
#include "memory/guest_memory.h"
#include "run/outcome.h"
#include "snapshot/state_format.h"

namespace ember {

struct Buses {
  const Bus& pio;
  const Bus& mmio;
};

class VcpuRunner final : public Kickable {
 public:
  // `tsc_khz` 0: the LAPIC offers no TSC-deadline mode.
  // `physical_address_bits`: the MAXPHYADDR the guest's CPUID gives, for the
  // emulation fallback's page walk.
  VcpuRunner(uint32_t index, kvm::Vcpu vcpu, Buses buses, MachineControl& control, HaltCensus& census,
             const std::atomic<bool>& stopping, const InterruptRouter& router, EoiListener& eoi, uint64_t tsc_khz,
             const GuestMemory& memory, unsigned physical_address_bits, const MachineClock& clock);
  ~VcpuRunner() override;

  // The thread body: runs until the machine stops. The boot VCPU starts
  // running at once; the others wait for INIT and SIPI. With `seccomp` the
  // thread adds the VCPU seccomp filter once its timer exists.
  void run(bool boot_vcpu, bool seccomp);

  // Any thread: make this VCPU look at its mailbox and the machine's state.
  void kick() override;

  // The 8259 pair whose INT output is wired to this VCPU's LINT0 (the boot
  // VCPU's, during assembly).
  void connect_extint(ExtIntSource& source) { extint_ = &source; }

  // The machine's coalesced port writes (kvm/coalesced_pio.h), replayed
  // before each exit is handled; set during assembly when KVM has them.
  // False if this VCPU's kvm_run mapping does not reach the ring.
  // The guest's CPUID offers PV EOI and its MSR reaches this thread
  // (irq/pv_eoi.h); before run().
  void set_pv_eoi_available() { pv_eoi_available_ = true; }
  [[nodiscard]] bool use_coalesced_pio(kvm::CoalescedPio& coalesced, int ring_page) {
    coalesced_ = &coalesced;
    coalesced_ring_ = static_cast<kvm::CoalescedPio::Ring*>(vcpu_.coalesced_ring(ring_page));
    return coalesced_ring_ != nullptr;
  }

  // KVM exits by kvm_run::exit_reason (the last slot counts larger reasons)
  // and KVM_RUN calls a kick interrupted. Read after the thread ended.
  static constexpr size_t kExitReasons = 48;
  const std::array<uint64_t, kExitReasons + 1>& exit_counts() const { return exit_counts_; }

  // Where this VCPU was when its thread ended ("running at RIP 0x...",
  // "halted at RIP 0x...", "waiting for INIT/SIPI"), so a timed-out guest
  // shows where it hung. Read after the thread ended.
  const std::string& final_state() const { return final_state_; }

  // When this VCPU first entered KVM_RUN (monotonic ns; 0: never). Read
  // after the thread ended.
  uint64_t first_run_ns() const { return first_run_ns_; }

  // Snapshots (issue 20). save_at_stop, before the machine stops: when its
  // thread's loop ends, the VCPU completes the exit in progress and reads
  // KVM's state of it (with `msrs`; save_error() if it could not).
  // finish_save, after the thread ended and once no device can post an
  // interrupt any more (Machine::save_snapshot stops them): what reached
  // the mailbox after the thread's read goes into the LAPIC, then KVM's
  // state, the halt state and the LAPIC go into saved_state(). restore, on
  // the thread that builds the machine, before run().
  // `after_state` runs on this thread right after KVM's state was read
  // (VCPU 0 reads the VM's kvmclock there, next to its TSC).
  void save_at_stop(const std::vector<uint32_t>& msrs, std::function<void()> after_state = {}) {
    save_msrs_ = &msrs;
    after_state_ = std::move(after_state);
    save_requested_.store(true, std::memory_order_release);
  }
  void                              finish_save();
  const snapshot::SectionWriter&    saved_state() const { return saved_state_; }
  // The guest's own kvmclock reading at the saved TSC (from its pvclock
  // page), if it has enabled kvmclock.
  std::optional<uint64_t>           saved_guest_clock() const { return saved_guest_clock_; }
  const std::optional<std::string>& save_error() const { return save_error_; }
  Result<void> restore(snapshot::SectionReader& in);
  // CLOCK_MONOTONIC when restore set the TSC (0: it set none).
  uint64_t     tsc_restored_at() const { return tsc_restored_at_; }

  InjectionMailbox& mailbox() { return mailbox_; }
  ApicAddressing&   addressing() { return addressing_; }
  Lapic&            lapic() { return lapic_; }

 private:
  enum class Activity { Running, Halted, WaitingForSipi };
  enum class Next { Continue, Stop };

  void service_mailbox();
  void apply_mailbox(const InjectionMailbox::Drained& drained);
  bool extint_pending() const;
  Next inject_interrupts(kvm_run& run);
  Next complete_hlt_before_injecting();
  Next inject(uint8_t vector);
  void sleep_until_woken(uint32_t generation);
  // After every KVM_RUN, before its exit is handled: what the guest did
  // without exiting (coalesced port writes, a PV EOI) reaches the devices.
  void catch_up_after_run();
  // The LAPIC timer's deadline, unless its expiry would change nothing
  // (Lapic::timer_expiry_changes_nothing): then none.
  std::optional<uint64_t> timer_wake_deadline() const;
  // When the thread must next look at the LAPIC while the guest runs:
  // timer_wake_deadline, or sooner to see a lowered CR8.
  std::optional<uint64_t> next_timer_event();
  void arm_timer(std::optional<uint64_t> deadline);
  void set_activity(Activity next);
  uint64_t guest_tsc() const;

  Next handle_exit();
  Next handle_port_io(kvm_run& run);
  Next handle_mmio(kvm_run& run);
  Next handle_msr(kvm_run& run);
  // PV EOI's offer around an injection (irq/pv_eoi.h): taken back when it
  // no longer holds, and kept behind a waiting request with a window exit.
  void review_pv_eoi_offer(bool can_inject);
  bool pv_eoi_offer_holds_back_a_request() const;
  Next handle_pv_eoi_msr(kvm_run& run);
  bool mirror_pv_eoi_msr(uint64_t value);
  void reset_pv_eoi();
  bool write_apic_base(uint64_t value);
  Next handle_halt(bool interrupts_enabled);
  Next handle_emulation_failure();
  Next handle_shutdown();
  Next crash(const std::string& what);
  void record_final_state();
  void save_state();

  const uint32_t           index_;
  kvm::Vcpu                vcpu_;
  Buses                    buses_;
  MachineControl&          control_;
  HaltCensus&              census_;
  const std::atomic<bool>& stopping_;
  const GuestMemory&       memory_;
  const unsigned           physical_address_bits_;
  const MachineClock&      clock_;  // LAPIC timer deadlines are on it

  InjectionMailbox mailbox_;
  ApicAddressing   addressing_;
  Lapic            lapic_;
  PvEoi            pv_eoi_{memory_};
  bool             pv_eoi_available_ = false;  // the guest's CPUID offers it (set_pv_eoi_available)
  ExtIntSource*    extint_ = nullptr;
  kvm::CoalescedPio*       coalesced_ = nullptr;
  kvm::CoalescedPio::Ring* coalesced_ring_ = nullptr;

  // Owned by the VCPU thread.
  Activity                activity_ = Activity::WaitingForSipi;
  bool                    halted_with_interrupts_off_ = false;
  uint32_t                nmis_pending_ = 0;  // for KVM_NMI: at most one in service plus one latched
  timer_t                 timer_{};
  bool                    timer_created_ = false;
  std::optional<uint64_t> armed_deadline_;
  std::optional<uint64_t> tpr_poll_at_;  // the next CR8 poll (next_timer_event)

  std::array<uint64_t, kExitReasons + 1> exit_counts_{};  // the last slot: interrupted by a kick
  std::string                            final_state_;
  std::atomic<bool>                      save_requested_{false};
  const std::vector<uint32_t>*           save_msrs_ = nullptr;
  std::function<void()>                  after_state_;
  std::optional<uint64_t>                saved_guest_clock_;
  uint64_t                               tsc_restored_at_ = 0;
  std::optional<kvm::VcpuState>          saved_kvm_state_;  // read by save_state, written by finish_save
  snapshot::SectionWriter                saved_state_;
  std::optional<std::string>             save_error_;
  bool                                   restored_ = false;  // run() keeps the restored activity
  uint64_t                               first_run_ns_ = 0;

  SignalableThread       thread_;  // kick() signals it only while run() runs
  std::atomic<uint32_t>  wake_generation_{0};
  bool                   after_window_exit_ = false;  // the last KVM_RUN ended in KVM_EXIT_IRQ_WINDOW_OPEN
  std::atomic<bool>      sleeping_{false};  // in sleep_until_woken: kick() wakes the futex, sends no signal
};

}  // namespace ember
