// The thread that owns one VCPU. Only this thread calls KVM_RUN or touches
// the VCPU's registers (DESIGN.md, "the one rule"); other threads kick it.
//
// Kick: a dedicated signal whose handler sets kvm_run->immediate_exit, the
// race-free pattern of api.rst (KVM_CAP_IMMEDIATE_EXIT): a kick that lands
// before KVM_RUN makes KVM_RUN return EINTR at once, one that lands inside it
// interrupts it; a VCPU halted in userspace is woken through a futex.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstdint>

#include "bus/bus.h"
#include "kvm/vcpu.h"
#include "machine/outcome.h"
#include "vcpu/halt_census.h"

namespace ember {

struct Buses {
  const Bus& pio;
  const Bus& mmio;
};

class VcpuRunner final {
 public:
  VcpuRunner(uint32_t index, kvm::Vcpu vcpu, Buses buses, MachineControl& control, HaltCensus& census,
             const std::atomic<bool>& stopping);

  // Installs the kick signal's handler; once per process, before any kick.
  static void install_kick_handler();

  // The thread body: runs the guest until the machine stops. `runnable`
  // false parks the VCPU (an AP waiting for INIT/SIPI).
  void run(bool runnable);

  // Any thread: make this VCPU look at the machine's state now.
  void kick();

 private:
  enum class Next { Continue, Stop };

  Next handle_exit();
  Next handle_port_io(kvm_run& run);
  Next handle_mmio(kvm_run& run);
  Next handle_halt(bool interrupts_enabled);
  Next crash(const std::string& what);
  void wait_for_kick();

  const uint32_t           index_;
  kvm::Vcpu                vcpu_;
  Buses                    buses_;
  MachineControl&          control_;
  HaltCensus&              census_;
  const std::atomic<bool>& stopping_;
  std::atomic<pthread_t>   thread_{};
  std::atomic<bool>        thread_known_{false};
  std::atomic<uint32_t>    wake_generation_{0};
};

}  // namespace ember
