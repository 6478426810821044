#include "vcpu/vcpu_runner.h"

#include <signal.h>

#include <cstring>

#include "base/log.h"
#include "base/strings.h"
#include "vcpu/register_dump.h"

namespace ember {
namespace {

// The VCPU this thread runs, for the kick handler. Static TLS: safe to read
// from a signal handler.
thread_local kvm_run* tls_run = nullptr;

int kick_signal() { return SIGRTMIN; }

void on_kick(int) {
  if (tls_run != nullptr) tls_run->immediate_exit = 1;
}

}  // namespace

VcpuRunner::VcpuRunner(uint32_t index, kvm::Vcpu vcpu, Buses buses, MachineControl& control, HaltCensus& census,
                       const std::atomic<bool>& stopping)
    : index_{index}, vcpu_{std::move(vcpu)}, buses_{buses}, control_{control}, census_{census}, stopping_{stopping} {}

void VcpuRunner::install_kick_handler() {
  struct sigaction action {};
  action.sa_handler = on_kick;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  sigaction(kick_signal(), &action, nullptr);
}

void VcpuRunner::kick() {
  wake_generation_.fetch_add(1, std::memory_order_release);
  wake_generation_.notify_all();
  if (thread_known_.load(std::memory_order_acquire)) pthread_kill(thread_.load(), kick_signal());
}

void VcpuRunner::wait_for_kick() {
  const uint32_t seen = wake_generation_.load(std::memory_order_acquire);
  if (!stopping_.load(std::memory_order_acquire)) wake_generation_.wait(seen, std::memory_order_acquire);
}

void VcpuRunner::run(bool runnable) {
  kvm_run* const state = vcpu_.run_state();
  tls_run = state;
  thread_.store(pthread_self());
  thread_known_.store(true, std::memory_order_release);

  // An AP stays parked until it is sent INIT and SIPI; until the interrupt
  // controllers exist nothing sends them, so it parks until the VM stops.
  while (!runnable && !stopping_.load(std::memory_order_acquire)) wait_for_kick();

  while (true) {
    // Clear before checking: a kick after this point sets it again and makes
    // the KVM_RUN below return at once, so no kick is lost.
    state->immediate_exit = 0;
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (stopping_.load(std::memory_order_acquire)) break;

    const auto result = vcpu_.run();
    if (!result) {
      control_.request_stop(Outcome{Outcome::Kind::HostError, 0, "VCPU " + std::to_string(index_) + ": " + result.error().message});
      break;
    }
    if (*result == kvm::RunResult::Interrupted) continue;
    if (handle_exit() == Next::Stop) break;
  }
  tls_run = nullptr;
}

VcpuRunner::Next VcpuRunner::handle_exit() {
  kvm_run& run = *vcpu_.run_state();
  switch (run.exit_reason) {
    case KVM_EXIT_IO:
      return handle_port_io(run);
    case KVM_EXIT_MMIO:
      return handle_mmio(run);
    case KVM_EXIT_HLT:
      return handle_halt(run.if_flag != 0);
    case KVM_EXIT_SHUTDOWN:
      return crash("triple fault (KVM_EXIT_SHUTDOWN)");
    case KVM_EXIT_FAIL_ENTRY:
      return crash("VM entry failed, hardware reason " + hex(run.fail_entry.hardware_entry_failure_reason));
    case KVM_EXIT_INTERNAL_ERROR: {
      std::string what = "KVM internal error, suberror " + std::to_string(run.internal.suberror);
      if (run.internal.suberror == KVM_INTERNAL_ERROR_EMULATION) what += " (KVM could not emulate an instruction)";
      return crash(what);
    }
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
  if (mmio.is_write) buses_.mmio.write(mmio.phys_addr, data, index_);
  else buses_.mmio.read(mmio.phys_addr, data, index_);
  return Next::Continue;
}

VcpuRunner::Next VcpuRunner::handle_halt(bool interrupts_enabled) {
  // HLT is handled in userspace: the thread sleeps until something can wake
  // the VCPU. Today that is only the machine stopping.
  if (!interrupts_enabled && census_.halted_with_interrupts_off()) {
    return crash("every VCPU halted with interrupts disabled; nothing can wake the guest again");
  }
  while (!stopping_.load(std::memory_order_acquire)) wait_for_kick();
  return Next::Stop;
}

VcpuRunner::Next VcpuRunner::crash(const std::string& what) {
  control_.request_stop(Outcome{Outcome::Kind::GuestCrash, 0,
                                "VCPU " + std::to_string(index_) + ": " + what + "\n" + register_dump(vcpu_)});
  return Next::Stop;
}

}  // namespace ember
