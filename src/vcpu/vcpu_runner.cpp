#include "vcpu/vcpu_runner.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/clock.h"
#include "base/futex.h"
#include "base/log.h"
#include "base/strings.h"
#include "boot/boot_cpu.h"
#include "emulation/instruction_emulator.h"
#include "irq/lapic_mmio.h"
#include "security/seccomp_filters.h"
#include "vcpu/kick_signal.h"
#include "vcpu/register_dump.h"

namespace ember {

VcpuRunner::VcpuRunner(uint32_t index, kvm::Vcpu vcpu, Buses buses, MachineControl& control, HaltCensus& census,
                       const std::atomic<bool>& stopping, const InterruptRouter& router, EoiListener& eoi, uint64_t tsc_khz,
                       const GuestMemory& memory, unsigned physical_address_bits, const MachineClock& clock)
    : index_{index},
      vcpu_{std::move(vcpu)},
      buses_{buses},
      control_{control},
      census_{census},
      stopping_{stopping},
      memory_{memory},
      physical_address_bits_{physical_address_bits},
      clock_{clock},
      lapic_{index, router, eoi, addressing_, [&clock] { return clock.now(); }, TscClock{[this] { return guest_tsc(); }, tsc_khz}} {}

uint64_t VcpuRunner::guest_tsc() const {
  constexpr uint32_t kIa32Tsc = 0x10;
  const auto tsc = vcpu_.get_msr(kIa32Tsc);
  return tsc ? *tsc : 0;
}

VcpuRunner::~VcpuRunner() {
  if (timer_created_) timer_delete(timer_);
}

void VcpuRunner::kick() {
  // The order of the generation, `sleeping_` and the loop's reads is what
  // makes one wake-up enough (ARCHITECTURE.md, "The injection mailbox"):
  // a kicker that sees the thread awake signals it, and a thread that goes
  // to sleep after that finds the generation changed and does not sleep.
  wake_generation_.fetch_add(1, std::memory_order_seq_cst);
  kvm_run* const state = vcpu_.run_state();
  if (is_kick_target(state)) {
    // From the VCPU's own thread (a device it emulates raised an interrupt
    // for it): it is neither asleep nor in KVM_RUN, so this does what the
    // signal's handler would, without its three system calls.
    state->immediate_exit = 1;
    return;
  }
  if (sleeping_.load(std::memory_order_seq_cst)) {
    futex_wake(wake_generation_);  // asleep in userspace: no KVM_RUN to interrupt
    return;
  }
  // Only while the thread runs (base/signalable_thread.h): a stop requested
  // after it ended must not pthread_kill a thread that is gone.
  (void)thread_.signal(kick_signal());
}

void VcpuRunner::run(bool boot_vcpu, bool seccomp) {
  kvm_run* const state = vcpu_.run_state();
  bind_kick_target(state);
  // However the thread ends (the early returns below included), kick()
  // stops signalling it first.
  const SignalableThread::Presence present{thread_};

  // The LAPIC timer's deadline is a POSIX timer that sends the kick signal
  // to this thread (SIGEV_THREAD_ID), so a running guest is interrupted on
  // time and a sleeping one woken.
  sigevent event{};
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = kick_signal();
  event._sigev_un._tid = gettid();  // sigev_notify_thread_id: glibc 2.36 lacks the macro
  timer_created_ = timer_create(CLOCK_MONOTONIC, &event, &timer_) == 0;
  if (!timer_created_) {
    control_.request_stop(Outcome{Outcome::Kind::HostError, 0, "timer_create failed: " + std::string(std::strerror(errno))});
    return;
  }
  if (seccomp) {
    if (auto filtered = install_vcpu_filter(); !filtered) {
      control_.request_stop(Outcome{Outcome::Kind::HostError, 0, "VCPU " + std::to_string(index_) + ": " + filtered.error().message});
      return;
    }
    // The test suite's proof that the filters are live (tests/kvm/privileges_test.cpp).
    // ("main:..." runs on the main thread instead, Machine::run.)
    if (const char* self_test = std::getenv("EMBER_SECCOMP_SELF_TEST");
        boot_vcpu && self_test != nullptr && !std::string_view{self_test}.starts_with("main:")) {
      seccomp_self_test(self_test);
    }
  }

  if (boot_vcpu && !restored_) set_activity(Activity::Running);

  while (true) {
    // Clear before checking: a kick after this point sets it again and makes
    // the KVM_RUN below return at once, so no kick is lost.
    state->immediate_exit = 0;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    // The generation before every wake condition, the stop included: a
    // kick that comes after this read makes the sleep below return at once,
    // and one that came before it is seen with what it was for.
    const uint32_t generation = wake_generation_.load(std::memory_order_seq_cst);
    if (stopping_.load(std::memory_order_acquire)) break;
    service_mailbox();
    if (activity_ != Activity::Running) {
      sleep_until_woken(generation);
      continue;
    }
    if (inject_interrupts(*state) == Next::Stop) break;
    arm_timer(next_timer_event());

    if (first_run_ns_ == 0) first_run_ns_ = monotonic_ns();
    // TPR and CR8 are one register (Lapic::cr8): KVM takes CR8 from here on
    // entry and leaves the guest's CR8 here on every exit (api.rst, cr8).
    state->cr8 = lapic_.cr8();
    const auto result = vcpu_.run();
    lapic_.write_cr8(state->cr8);
    catch_up_after_run();
    if (!result) {
      control_.request_stop(Outcome{Outcome::Kind::HostError, 0, "VCPU " + std::to_string(index_) + ": " + result.error().message});
      break;
    }
    after_window_exit_ = *result != kvm::RunResult::Interrupted && state->exit_reason == KVM_EXIT_IRQ_WINDOW_OPEN;
    if (*result == kvm::RunResult::Interrupted) {
      ++exit_counts_[kExitReasons];
      continue;
    }
    ++exit_counts_[std::min<size_t>(state->exit_reason, kExitReasons - 1)];
    if (handle_exit() == Next::Stop) break;
  }
  if (save_requested_.load(std::memory_order_acquire)) save_state();
  bind_kick_target(nullptr);
  record_final_state();
}

namespace {

template <class T>
std::span<const uint8_t> bytes_of(const T& value) {
  return {reinterpret_cast<const uint8_t*>(&value), sizeof value};
}

// A KVM structure from its saved bytes, which must be exactly its size.
template <class T>
T struct_from(snapshot::SectionReader& in, const char* what) {
  T value{};
  const auto bytes = in.bytes(sizeof value);
  if (bytes.size() != sizeof value) {
    in.refuse(std::string("holds ") + what + " of " + std::to_string(bytes.size()) + " bytes, not " + std::to_string(sizeof value));
  } else {
    std::memcpy(&value, bytes.data(), sizeof value);
  }
  return value;
}

// The kvmclock as the guest reads it at the TSC in `msrs`: its pvclock page
// (MSR_KVM_SYSTEM_TIME_NEW; Documentation/virt/kvm/x86/msr.rst) scaled from
// its own timestamp. KVM_GET_CLOCK's host-side reading can differ from it by
// milliseconds where KVM has no master clock (the nested tier), and a
// restore set from that would show the guest a clock that jumped against
// its TSC.
std::optional<uint64_t> guest_kvmclock(const GuestMemory& memory, const std::vector<kvm_msr_entry>& msrs) {
  constexpr uint32_t kSystemTimeNew = 0x4b564d01, kTsc = 0x10;
  std::optional<uint64_t> system_time, tsc;
  for (const auto& msr : msrs) {
    if (msr.index == kSystemTimeNew) system_time = msr.data;
    if (msr.index == kTsc) tsc = msr.data;
  }
  if (!system_time || !tsc || (*system_time & 1) == 0) return std::nullopt;
  struct PvclockTime {  // struct pvclock_vcpu_time_info
    uint32_t version, pad0;
    uint64_t tsc_timestamp, system_time;
    uint32_t tsc_to_system_mul;
    int8_t   tsc_shift;
    uint8_t  flags, pad[2];
  };
  const auto page = memory.read_object<PvclockTime>(*system_time & ~uint64_t{1});
  if (!page || (page->version & 1) != 0) return std::nullopt;
  uint64_t delta = *tsc - page->tsc_timestamp;
  delta = page->tsc_shift < 0 ? delta >> -page->tsc_shift : delta << page->tsc_shift;
  const auto scaled = static_cast<uint64_t>((static_cast<unsigned __int128>(delta) * page->tsc_to_system_mul) >> 32);
  return page->system_time + scaled;
}

}  // namespace

void VcpuRunner::save_state() {
  kvm_run* const state = vcpu_.run_state();
  service_mailbox();  // what was posted is in the LAPIC, and saved with it
  // An exit in progress (the doorbell's port write on the VCPU that rang
  // it) completes inside KVM_RUN: with immediate_exit it completes and
  // returns at once, without entering the guest (api.rst, kvm_run).
  // Completing it may need another exit (a split MMIO access, a string I/O
  // instruction's next chunk): those are handled, a bounded number of times.
  for (int round = 0;; ++round) {
    state->immediate_exit = 1;
    state->cr8 = lapic_.cr8();
    const auto completed = vcpu_.run();
    lapic_.write_cr8(state->cr8);
    state->immediate_exit = 0;
    catch_up_after_run();  // before the devices' and the LAPIC's state is saved
    if (!completed) {
      save_error_ = "VCPU " + std::to_string(index_) + ": " + completed.error().message;
      return;
    }
    if (*completed == kvm::RunResult::Interrupted) break;
    if (round == 64) {
      save_error_ = "VCPU " + std::to_string(index_) + ": its exit in progress did not complete";
      return;
    }
    (void)handle_exit();
  }
  // An EOI the guest made through PV EOI is in the LAPIC by now; one it has
  // not made yet will exit, restored or not, so no offer is saved.
  pv_eoi_.withdraw();
  auto kvm_state = vcpu_.save_state(*save_msrs_);
  if (after_state_) after_state_();
  if (!kvm_state) {
    save_error_ = "VCPU " + std::to_string(index_) + ": " + kvm_state.error().message;
    return;
  }
  saved_guest_clock_ = guest_kvmclock(memory_, kvm_state->msrs);
  saved_kvm_state_ = std::move(*kvm_state);
}

void VcpuRunner::finish_save() {
  if (!saved_kvm_state_) return;  // save_error() says why
  // Interrupts devices posted while the machine stopped go into the LAPIC.
  // An INIT or SIPI would change registers already read: refused.
  const auto drained = mailbox_.drain();
  if (drained.init || drained.sipi) {
    save_error_ = "VCPU " + std::to_string(index_) + " was being started (INIT or SIPI) as the machine stopped";
    return;
  }
  apply_mailbox(drained);
  const kvm::VcpuState& kvm_state = *saved_kvm_state_;
  snapshot::SectionWriter& out = saved_state_;
  out.u8(static_cast<uint8_t>(activity_)).boolean(halted_with_interrupts_off_).u32(nmis_pending_);
  out.bytes(bytes_of(kvm_state.regs)).bytes(bytes_of(kvm_state.sregs)).bytes(bytes_of(kvm_state.xsave));
  out.bytes(bytes_of(kvm_state.xcrs)).bytes(bytes_of(kvm_state.debugregs)).bytes(bytes_of(kvm_state.events));
  out.u32(static_cast<uint32_t>(kvm_state.msrs.size()));
  for (const auto& msr : kvm_state.msrs) out.u32(msr.index).u64(msr.data);
  lapic_.save(out);
}

Result<void> VcpuRunner::restore(snapshot::SectionReader& in) {
  const uint8_t activity = in.u8();
  const bool halted_with_interrupts_off = in.boolean();
  const uint32_t nmis_pending = in.u32();
  kvm::VcpuState state;
  state.regs = struct_from<kvm_regs>(in, "registers");
  state.sregs = struct_from<kvm_sregs>(in, "special registers");
  state.xsave = struct_from<kvm::XsaveArea>(in, "an XSAVE area");
  state.xcrs = struct_from<kvm_xcrs>(in, "XCRs");
  state.debugregs = struct_from<kvm_debugregs>(in, "debug registers");
  state.events = struct_from<kvm_vcpu_events>(in, "VCPU events");
  const uint32_t msrs = in.u32();
  if (msrs > 4096) in.refuse("holds " + std::to_string(msrs) + " MSRs");
  for (uint32_t i = 0; i < msrs && in.ok(); ++i) {
    const uint32_t index = in.u32();
    const uint64_t data = in.u64();
    state.msrs.push_back({.index = index, .reserved = 0, .data = data});
  }
  if (activity > static_cast<uint8_t>(Activity::WaitingForSipi)) in.refuse("has an unknown activity state");
  if (nmis_pending > 2) in.refuse("has more than two NMIs pending");
  if (halted_with_interrupts_off && activity != static_cast<uint8_t>(Activity::Halted)) in.refuse("is halted with interrupts off, but not halted");
  if (!in.ok()) return in.finish();
  // The LAPIC reads the rest and checks it, before anything changes.
  if (auto lapic = lapic_.restore(in); !lapic) return lapic;
  if (auto set = vcpu_.restore_state(state, &tsc_restored_at_); !set) {
    return Error{"VCPU " + std::to_string(index_) + ": KVM refused the snapshot's state: " + set.error().message};
  }
  // PV EOI's MSR, which KVM kept; ember offers again only where it traps
  // the MSR on this host, and only at a word it would have accepted.
  for (const auto& msr : state.msrs) {
    if (msr.index == PvEoi::kMsr && pv_eoi_available_ && !pv_eoi_.write_msr(msr.data)) {
      return Error{"VCPU " + std::to_string(index_) + ": the snapshot's PV EOI word " + hex(msr.data) + " is not in guest RAM"};
    }
  }
  set_activity(static_cast<Activity>(activity));
  nmis_pending_ = nmis_pending;
  if (halted_with_interrupts_off) {
    halted_with_interrupts_off_ = true;
    (void)census_.halted_with_interrupts_off();  // counted as handle_halt counts it
  }
  restored_ = true;
  return {};
}

void VcpuRunner::record_final_state() {
  if (activity_ == Activity::WaitingForSipi) {
    final_state_ = "waiting for INIT/SIPI";
    return;
  }
  // Where it was, whether it could take an interrupt (RFLAGS.IF, bit 9) and
  // what its LAPIC held: what a hung guest's report needs to tell a lost
  // interrupt from a guest that masked them.
  const auto regs = vcpu_.get_regs();
  const std::string rip = regs ? "RIP " + hex(regs->rip) + ((regs->rflags & (1u << 9)) ? " IF=1" : " IF=0") : "RIP unreadable";
  final_state_ = (activity_ == Activity::Halted ? "halted at " : "running at ") + rip + ", LAPIC " + lapic_.describe();
}

void VcpuRunner::set_activity(Activity next) {
  if (activity_ == Activity::WaitingForSipi && next != Activity::WaitingForSipi) census_.vcpu_started();
  if (activity_ != Activity::WaitingForSipi && next == Activity::WaitingForSipi) census_.vcpu_stopped();
  if (halted_with_interrupts_off_ && next != Activity::Halted) {
    census_.woke_from_dead_halt();
    halted_with_interrupts_off_ = false;
  }
  activity_ = next;
}

void VcpuRunner::service_mailbox() { apply_mailbox(mailbox_.drain()); }

void VcpuRunner::apply_mailbox(const InjectionMailbox::Drained& drained) {
  if (drained.init) {
    // INIT: the LAPIC resets and the CPU waits for a start-up IPI (SDM 9.4.4).
    lapic_.reset();
    reset_pv_eoi();
    nmis_pending_ = 0;
    set_activity(Activity::WaitingForSipi);
  }
  if (drained.sipi && activity_ == Activity::WaitingForSipi) {
    // A SIPI outside wait-for-SIPI is ignored (SDM 11.6.1).
    if (auto status = boot::set_startup_registers(vcpu_, *drained.sipi); !status) {
      control_.request_stop(Outcome{Outcome::Kind::HostError, 0, "VCPU " + std::to_string(index_) + ": " + status.error().message});
    }
    set_activity(Activity::Running);
  }
  // KVM latches NMIs as the CPU does (one in service, one pending), so each
  // one posted goes to KVM on its own; more than two can never all count.
  if (drained.nmis != 0 && activity_ != Activity::WaitingForSipi) nmis_pending_ = std::min(nmis_pending_ + drained.nmis, 2u);
  lapic_.accept(drained);
  lapic_.expire_timer(clock_.now());
  if (drained.wake_events != 0) census_.wake_events_handled(drained.wake_events);

  // HLT ends at an NMI, or at an interrupt the CPU may take (SDM Vol. 2A, HLT).
  if (activity_ == Activity::Halted &&
      (nmis_pending_ != 0 || (!halted_with_interrupts_off_ && (lapic_.deliverable_vector() || extint_pending())))) {
    set_activity(Activity::Running);
  }
}

bool VcpuRunner::extint_pending() const {
  return extint_ != nullptr && lapic_.accepts_extint() && extint_->interrupt_pending();
}

VcpuRunner::Next VcpuRunner::inject_interrupts(kvm_run& run) {
  for (; nmis_pending_ != 0; --nmis_pending_) {
    if (auto status = vcpu_.nmi(); !status) return crash(status.error().message);
  }
  // KVM reports in kvm_run whether the guest can take an interrupt now; if
  // not, ask it to exit as soon as it can (api.rst, request_interrupt_window).
  const bool can_inject = run.ready_for_interrupt_injection && run.if_flag;
  review_pv_eoi_offer(can_inject);
  if (const auto vector = lapic_.deliverable_vector()) {
    if (can_inject) {
      if (inject(*vector) == Next::Stop) return Next::Stop;
      lapic_.start_servicing(*vector);
      if (lapic_.eoi_may_wait(*vector)) pv_eoi_.offer(*vector);
    }
  } else if (can_inject && extint_pending()) {
    // The 8259's vector comes from its interrupt-acknowledge cycle, taken
    // only when the CPU can take the interrupt now.
    if (const auto extint = extint_->acknowledge()) {
      if (inject(*extint) == Next::Stop) return Next::Stop;
    }
  }
  run.request_interrupt_window = lapic_.deliverable_vector() || extint_pending() || pv_eoi_offer_holds_back_a_request() ? 1 : 0;
  return Next::Continue;
}

// An offer stands only while the guest's next EOI would end the vector it
// was made for. A request that waits in IRR for that EOI
// (Lapic::request_deliverable_after_eoi) goes in, as a maskable interrupt,
// only once the guest has interrupts on again: so ember keeps the offer and
// asks KVM to exit by the interrupt window (pv_eoi_offer_holds_back_a_request),
// and at that exit, or any earlier one, it sees the EOI the guest made
// through the word. The EOI's own exit, with interrupts still off, would
// have led to that same window. KVM does not offer at all with something in
// IRR (lapic.c, apic_sync_pv_eoi_to_guest); its in-kernel LAPIC needs no
// window exit. A guest that turns interrupts on before its EOI (a handler
// that nests interrupts, a trap gate) would hold the window open: then the
// offer is taken back, its EOI exits through the register, and no window is
// asked for it. That costs such a guest one exit more than no offer would.
void VcpuRunner::review_pv_eoi_offer(bool can_inject) {
  if (!pv_eoi_.offered_vector()) return;
  if (lapic_.highest_in_service() != pv_eoi_.offered_vector() || (can_inject && lapic_.request_deliverable_after_eoi())) {
    pv_eoi_.withdraw();
  }
}

bool VcpuRunner::pv_eoi_offer_holds_back_a_request() const {
  return pv_eoi_.offered_vector() && lapic_.request_deliverable_after_eoi();
}

VcpuRunner::Next VcpuRunner::inject(uint8_t vector) {
  if (after_window_exit_ && complete_hlt_before_injecting() == Next::Stop) return Next::Stop;
  if (auto status = vcpu_.interrupt(vector); !status) return crash(status.error().message);
  return Next::Continue;
}

// An interrupt window can open with the guest at the HLT of `sti; hlt`:
// stock kvm_amd under QEMU's TCG (the nested tier) opens it inside STI's
// interrupt shadow, before the HLT runs, and KVM reports no shadow
// (kvm_vcpu_events). An interrupt injected there returns to the HLT, and
// the guest halts with the interrupt it was waiting for already handled; a
// guest with no timer never wakes (tests/guests/halt_ping_pong.c). A CPU
// honours the shadow: the HLT runs, the interrupt ends it, and the handler
// returns after it (SDM Vol. 2A, STI and HLT). So ember runs the HLT first
// (RIP past it) and then injects, which is that same order on every KVM.
// Only a HLT right after an STI is touched; after POPF or IRET, where a
// pending interrupt is taken before the HLT, KVM is left to it. It costs
// two register reads per injection at a window exit, on every host.
VcpuRunner::Next VcpuRunner::complete_hlt_before_injecting() {
  after_window_exit_ = false;
  auto regs = vcpu_.get_regs();
  if (!regs) return crash(regs.error().message);
  const auto sregs = vcpu_.get_sregs();
  if (!sregs) return crash(sregs.error().message);
  const auto past_hlt = rip_past_hlt_after_sti(*regs, *sregs, memory_, physical_address_bits_);
  if (!past_hlt) return Next::Continue;
  regs->rip = *past_hlt;
  if (auto set = vcpu_.set_regs(*regs); !set) return crash(set.error().message);
  return Next::Continue;
}

void VcpuRunner::sleep_until_woken(uint32_t generation) {
  // A halted CPU still counts its LAPIC timer down; one waiting for SIPI does not.
  const auto deadline = activity_ == Activity::Halted ? timer_wake_deadline() : std::nullopt;
  if (deadline && *deadline <= clock_.now()) return;
  // A kick from now on wakes the futex instead of sending the signal; one
  // that came before this store changed the generation, so the wait below
  // returns at once.
  after_window_exit_ = false;  // the window it was for has passed
  sleeping_.store(true, std::memory_order_seq_cst);
  futex_wait(wake_generation_, generation, deadline ? std::optional{clock_.host_time(*deadline)} : std::nullopt);
  sleeping_.store(false, std::memory_order_seq_cst);
}

void VcpuRunner::catch_up_after_run() {
  // Coalesced writes happened before this exit: they go first.
  if (coalesced_ring_ != nullptr) coalesced_->replay(*coalesced_ring_, buses_.pio, index_);
  // So does an EOI the guest made through PV EOI, before anything reads
  // the LAPIC (an EOI or ISR access in this very exit included).
  if (pv_eoi_.guest_ended_interrupt()) lapic_.end_of_interrupt();
}

std::optional<uint64_t> VcpuRunner::timer_wake_deadline() const {
  // A guest that keeps interrupts off while a fast periodic timer runs would
  // otherwise cost a signal and an exit every period, for nothing.
  return lapic_.timer_expiry_changes_nothing() ? std::nullopt : lapic_.timer_deadline();
}

std::optional<uint64_t> VcpuRunner::next_timer_event() {
  auto deadline = timer_wake_deadline();
  // A vector held back only by TPR goes in once the guest lowers CR8. SVM
  // and VMX KVM exit for that (KVM_EXIT_SET_TPR), but a KVM that emulates
  // MOV to CR8 (kvm_pvm) lets the guest run on without an exit; polling
  // kvm_run::cr8 bounds the wait on every KVM. Linux sets TPR to 0x10 once
  // (setup_local_APIC) and uses no vector below 0x20, so this costs its
  // guests nothing.
  if (lapic_.tpr_holds_back_a_vector()) {
    // One poll per millisecond, not one per exit: a poll still due keeps
    // its time, so the timer is not re-armed on every pass.
    constexpr uint64_t kTprPollNs = 1'000'000;
    const uint64_t now = clock_.now();
    if (!tpr_poll_at_ || *tpr_poll_at_ <= now) tpr_poll_at_ = now + kTprPollNs;
    if (!deadline || *tpr_poll_at_ < *deadline) deadline = tpr_poll_at_;
  } else {
    tpr_poll_at_.reset();
  }
  return deadline;
}

void VcpuRunner::arm_timer(std::optional<uint64_t> deadline) {
  if (deadline == armed_deadline_) return;
  itimerspec spec{};
  if (deadline) {
    const uint64_t host_deadline = clock_.host_time(*deadline);  // the timer is on CLOCK_MONOTONIC
    spec.it_value.tv_sec = static_cast<time_t>(host_deadline / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(host_deadline % 1'000'000'000);
    if (spec.it_value.tv_sec == 0 && spec.it_value.tv_nsec == 0) spec.it_value.tv_nsec = 1;  // zero would disarm
  }
  timer_settime(timer_, TIMER_ABSTIME, &spec, nullptr);
  armed_deadline_ = deadline;
}

VcpuRunner::Next VcpuRunner::handle_exit() {
  kvm_run& run = *vcpu_.run_state();
  switch (run.exit_reason) {
    case KVM_EXIT_IO:
      return handle_port_io(run);
    case KVM_EXIT_MMIO:
      return handle_mmio(run);
    case KVM_EXIT_IRQ_WINDOW_OPEN:
      return Next::Continue;  // the loop injects now
    case KVM_EXIT_SET_TPR:
      return Next::Continue;  // the guest lowered CR8: the loop took it into TPR and may inject now
    case KVM_EXIT_X86_RDMSR:
    case KVM_EXIT_X86_WRMSR:
      return handle_msr(run);
    case KVM_EXIT_HLT:
      return handle_halt(run.if_flag != 0);
    case KVM_EXIT_SHUTDOWN:
      return handle_shutdown();
    case KVM_EXIT_FAIL_ENTRY:
      return crash("VM entry failed, hardware reason " + hex(run.fail_entry.hardware_entry_failure_reason));
    case KVM_EXIT_INTERNAL_ERROR:
      if (run.internal.suberror == KVM_INTERNAL_ERROR_EMULATION) return handle_emulation_failure();
      return crash("KVM internal error, suberror " + std::to_string(run.internal.suberror));
    case KVM_EXIT_SYSTEM_EVENT:
      switch (run.system_event.type) {
        case KVM_SYSTEM_EVENT_SHUTDOWN:
          control_.request_stop(Outcome{Outcome::Kind::PowerOff, 0, "the guest powered off"});
          return Next::Stop;
        case KVM_SYSTEM_EVENT_RESET:
          control_.request_stop(Outcome{Outcome::Kind::Reset, 0, "the guest reset the machine"});
          return Next::Stop;
        default:
          return crash("system event " + std::to_string(run.system_event.type));
      }
    default:
      return crash("unexpected KVM exit reason " + std::to_string(run.exit_reason));
  }
}

VcpuRunner::Next VcpuRunner::handle_port_io(kvm_run& run) {
  // `rep ins/outs` arrive as one exit with count > 1: the elements sit back to
  // back at data_offset inside the kvm_run page (api.rst, KVM_EXIT_IO).
  const auto& io = run.io;
  auto* data = reinterpret_cast<uint8_t*>(&run) + io.data_offset;
  for (uint32_t i = 0; i < io.count; ++i) {
    const std::span<uint8_t> element{data + uint64_t{i} * io.size, io.size};
    if (io.direction == KVM_EXIT_IO_OUT) buses_.pio.write(io.port, element, index_);
    else buses_.pio.read(io.port, element, index_);
  }
  return Next::Continue;
}

VcpuRunner::Next VcpuRunner::handle_mmio(kvm_run& run) {
  auto& mmio = run.mmio;
  const size_t length = std::min<size_t>(mmio.len, sizeof mmio.data);
  const std::span<uint8_t> data{mmio.data, length};
  // This VCPU's own LAPIC first: its page follows IA32_APIC_BASE and hides
  // whatever else is there, for this VCPU only (lapic_mmio.h).
  if (mmio.is_write) {
    if (!lapic_mmio_write(lapic_, mmio.phys_addr, data)) buses_.mmio.write(mmio.phys_addr, data, index_);
  } else {
    if (!lapic_mmio_read(lapic_, mmio.phys_addr, data)) buses_.mmio.read(mmio.phys_addr, data, index_);
  }
  return Next::Continue;
}

VcpuRunner::Next VcpuRunner::handle_msr(kvm_run& run) {
  // The LAPIC's MSRs (APIC base, TSC deadline, x2APIC) and anything KVM
  // would have faulted arrive here; error = 1 makes KVM inject #GP
  // (api.rst, KVM_EXIT_X86_RDMSR). MSRs that are not the LAPIC's fault, as
  // KVM would have faulted them: guests probe MSRs this way, so no log.
  auto& msr = run.msr;
  if (msr.index == PvEoi::kMsr) return handle_pv_eoi_msr(run);
  const bool lapic_msr = msr.index == Lapic::kApicBaseMsr || msr.index == Lapic::kTscDeadlineMsr ||
                         (msr.index >= Lapic::kX2apicMsrFirst && msr.index < Lapic::kX2apicMsrFirst + Lapic::kX2apicMsrCount);
  if (!lapic_msr) {
    msr.error = 1;
    return Next::Continue;
  }
  if (run.exit_reason == KVM_EXIT_X86_RDMSR) {
    const auto value = lapic_.read_msr(msr.index);
    msr.data = value.value_or(0);
    msr.error = value ? 0 : 1;
  } else if (msr.index == Lapic::kApicBaseMsr) {
    msr.error = write_apic_base(msr.data) ? 0 : 1;
  } else {
    msr.error = lapic_.write_msr(msr.index, msr.data) ? 0 : 1;
  }
  if (msr.error) {
    EMBER_GUEST_WARNING("VCPU " + std::to_string(index_) + ": " + (run.exit_reason == KVM_EXIT_X86_RDMSR ? "rdmsr " : "wrmsr ") +
                        hex(msr.index) + " faults (#GP)");
  }
  return Next::Continue;
}

VcpuRunner::Next VcpuRunner::handle_pv_eoi_msr(kvm_run& run) {
  auto& msr = run.msr;
  msr.error = 0;
  if (run.exit_reason == KVM_EXIT_X86_RDMSR) {
    msr.data = pv_eoi_.msr();
    return Next::Continue;
  }
  const uint64_t before = pv_eoi_.msr();
  if (!pv_eoi_.write_msr(msr.data)) {
    msr.error = 1;
    EMBER_GUEST_WARNING("VCPU " + std::to_string(index_) + ": PV EOI at " + hex(msr.data) +
                        " refused (#GP): not a 4-byte-aligned address in guest RAM");
  } else if (!mirror_pv_eoi_msr(msr.data)) {
    (void)pv_eoi_.write_msr(before);  // accepted before, so accepted again
    msr.error = 1;
    EMBER_GUEST_WARNING("VCPU " + std::to_string(index_) + ": PV EOI at " + hex(msr.data) + " refused (#GP): KVM refused it");
  }
  return Next::Continue;
}

bool VcpuRunner::mirror_pv_eoi_msr(uint64_t value) {
  // KVM keeps the value too, so a snapshot saves it with the other MSRs.
  return static_cast<bool>(vcpu_.set_msr(PvEoi::kMsr, value));
}

void VcpuRunner::reset_pv_eoi() {
  pv_eoi_.reset();
  if (pv_eoi_available_) (void)mirror_pv_eoi_msr(0);
}

bool VcpuRunner::write_apic_base(uint64_t value) {
  // KVM maps guest RAM for every VCPU at once, so an xAPIC page enabled
  // inside RAM could never be reached: refused, as README.md says. Disabled
  // or in x2APIC mode the page decodes nothing, wherever the base points.
  const uint64_t base = value & Lapic::kApicBaseAddressMask;
  for (const auto& region : memory_.regions()) {
    if (Lapic::xapic_page_enabled(value) && base < region.guest_address + region.size &&
        region.guest_address < base + Lapic::kMmioSize) {
      EMBER_GUEST_WARNING("VCPU " + std::to_string(index_) + ": moving the LAPIC to " + hex(base) +
                          ", inside guest RAM, is refused (#GP)");
      return false;
    }
  }
  // KVM learns the value too: it derives CPUID.1:EDX.APIC from the enable
  // bit (SDM 11.4.3) and checks the base against the guest's physical
  // address width. KVM first, so a base it refuses leaves the LAPIC alone.
  const auto mirror = [this](uint64_t apic_base) {
    return static_cast<bool>(vcpu_.set_msr(Lapic::kApicBaseMsr, apic_base));
  };
  const uint64_t before = *lapic_.read_msr(Lapic::kApicBaseMsr);
  constexpr uint64_t kBsp = Lapic::kApicBaseBsp;
  if (!mirror((value & ~kBsp) | (before & kBsp))) return false;  // the BSP flag is read-only
  if (lapic_.write_msr(Lapic::kApicBaseMsr, value)) return true;
  mirror(before);
  return false;
}

VcpuRunner::Next VcpuRunner::handle_halt(bool interrupts_enabled) {
  // HLT is handled here: the thread sleeps (sleep_until_woken) until an
  // interrupt it may take, an NMI or its LAPIC timer ends the halt.
  set_activity(Activity::Halted);
  if (!interrupts_enabled) {
    halted_with_interrupts_off_ = true;
    if (census_.halted_with_interrupts_off()) {
      return crash("every VCPU halted with interrupts disabled; nothing can wake the guest again");
    }
  }
  return Next::Continue;
}

VcpuRunner::Next VcpuRunner::handle_emulation_failure() {
  // KVM's emulator lacked this instruction (emulation/instruction_emulator.h): ember decodes
  // and emulates it, or raises what the hardware would, or stops with the
  // instruction named.
  const auto regs = vcpu_.get_regs();
  const auto sregs = vcpu_.get_sregs();
  const auto fpu = vcpu_.get_fpu();
  if (!regs || !sregs || !fpu) return crash("KVM could not emulate an instruction, and its state is unreadable");
  const auto result = emulate_instruction(*regs, *sregs, memory_, fpu->fsw, physical_address_bits_);
  switch (result.kind) {
    case EmulationResult::Kind::Emulated:
      if (auto set = vcpu_.set_regs(result.regs); !set) return crash(set.error().message);
      return Next::Continue;
    case EmulationResult::Kind::RaiseException:
      if (auto set = vcpu_.set_regs(result.regs); !set) return crash(set.error().message);
      if (result.fault_address) {
        // A page fault reports its linear address in CR2 (SDM Vol. 3A 4.7).
        kvm_sregs with_cr2 = *sregs;
        with_cr2.cr2 = *result.fault_address;
        if (auto set = vcpu_.set_sregs(with_cr2); !set) return crash(set.error().message);
      }
      if (auto injected = vcpu_.inject_exception(result.exception, result.error_code); !injected) {
        return crash(injected.error().message);
      }
      return Next::Continue;
    case EmulationResult::Kind::Unsupported:
    case EmulationResult::Kind::Unreadable:
      break;
  }
  return crash("KVM could not emulate `" + result.instruction + "` (emulation failure), and ember does not emulate it either");
}

VcpuRunner::Next VcpuRunner::handle_shutdown() {
  // On AMD SVM the VMCB is undefined after a shutdown intercept, so KVM
  // resets the VCPU before it reports KVM_EXIT_SHUTDOWN (arch/x86/kvm/svm/
  // svm.c, shutdown_interception); on VMX the registers still hold the
  // faulting state. A dump of the reset state would name the reset vector as
  // the crash site, so ember says the state is gone instead.
  const auto regs = vcpu_.get_regs();
  const auto sregs = vcpu_.get_sregs();
  if (regs && sregs && is_reset_state(*regs, *sregs)) {
    control_.request_stop(Outcome{Outcome::Kind::GuestCrash, 0,
                                  "VCPU " + std::to_string(index_) +
                                      ": triple fault (KVM_EXIT_SHUTDOWN); this host's KVM had already reset the VCPU when it "
                                      "reported the fault (as kvm_amd does), so its registers at the fault are lost\n"});
    return Next::Stop;
  }
  return crash("triple fault (KVM_EXIT_SHUTDOWN)");
}

VcpuRunner::Next VcpuRunner::crash(const std::string& what) {
  std::string report = "VCPU " + std::to_string(index_) + ": " + what + "\n" + register_dump(vcpu_);
  const auto regs = vcpu_.get_regs();
  const auto sregs = vcpu_.get_sregs();
  if (regs && sregs) report += "  code at rip:\n" + disassemble_at_rip(*regs, *sregs, memory_, 6);
  control_.request_stop(Outcome{Outcome::Kind::GuestCrash, 0, report});
  return Next::Stop;
}

}  // namespace ember
