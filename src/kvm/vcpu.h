// One KVM VCPU: its fd and its mmapped kvm_run. Only the VCPU's own thread may
// call anything here once it runs (ARCHITECTURE.md, "The one rule").
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "base/file_descriptor.h"
#include "kvm/flexible_array_ioctls.h"
#include "kvm/ioctl_error.h"

namespace ember::kvm {

enum class RunResult {
  Exited,       // kvm_run->exit_reason says why
  Interrupted,  // a signal (a kick) or immediate_exit ended KVM_RUN: EINTR
};

// What KVM holds of a VCPU that a snapshot saves (api.rst, one ioctl
// each). Without an in-kernel irqchip KVM has no LAPIC and no MP state of
// its own: ember's LAPIC and halt state are saved beside this (VcpuRunner).
struct VcpuState {
  kvm_regs                   regs{};
  kvm_sregs                  sregs{};
  XsaveArea                  xsave{};
  kvm_xcrs                   xcrs{};
  kvm_debugregs              debugregs{};
  kvm_vcpu_events            events{};
  std::vector<kvm_msr_entry> msrs;
};

class Vcpu final {
 public:
  Vcpu(FileDescriptor fd, kvm_run* run, size_t run_size) : fd_{std::move(fd)}, run_{run}, run_size_{run_size} {}
  Vcpu(Vcpu&& other) noexcept;
  Vcpu& operator=(Vcpu&&) = delete;
  Vcpu(const Vcpu&) = delete;
  ~Vcpu();

  kvm_run* run_state() const { return run_; }
  // The coalesced I/O ring `page` pages into the kvm_run mapping, or
  // nullptr if the mapping is not that long.
  void* coalesced_ring(int page) const {
    const size_t offset = static_cast<size_t>(page) * 4096;
    if (page <= 0 || offset + 4096 > run_size_) return nullptr;
    return reinterpret_cast<char*>(run_) + offset;
  }
  KvmResult<RunResult> run();

  KvmResult<kvm_regs>  get_regs() const;
  KvmStatus            set_regs(const kvm_regs& regs);
  KvmResult<kvm_sregs> get_sregs() const;
  KvmStatus            set_sregs(const kvm_sregs& sregs);
  KvmResult<kvm_fpu>   get_fpu() const;
  KvmStatus            set_fpu(const kvm_fpu& fpu);
  // Injects exception `vector` (without error code) at the next entry.
  KvmStatus            inject_exception(uint8_t vector, std::optional<uint32_t> error_code = std::nullopt);
  KvmStatus            set_cpuid(std::span<const kvm_cpuid_entry2> entries);
  KvmStatus            set_msrs(std::span<const kvm_msr_entry> entries);
  KvmResult<uint64_t>  get_msr(uint32_t index) const;
  KvmStatus            set_msr(uint32_t index, uint64_t value);
  KvmResult<uint32_t>  tsc_khz() const;  // KVM_GET_TSC_KHZ: the guest TSC's frequency
  KvmStatus            interrupt(uint8_t vector);  // KVM_INTERRUPT: only without an in-kernel irqchip
  KvmStatus            nmi();
  // Every MSR of `msrs` that KVM can read is saved; restore sets them all.
  // The TSC is read last and set last, so that the VM's kvmclock can be
  // read or set right after it and the two keep their relation.
  // An exit still in progress (port or MMIO I/O) must have been completed
  // first (KVM_RUN with immediate_exit, api.rst "kvm_run").
  KvmResult<VcpuState> save_state(std::span<const uint32_t> msrs) const;
  // `tsc_set_at`: where given, CLOCK_MONOTONIC when the TSC was set (the
  // middle of its ioctl), for the caller's kvmclock.
  KvmStatus            restore_state(const VcpuState& state, uint64_t* tsc_set_at = nullptr);

 private:
  FileDescriptor fd_;
  kvm_run*       run_;
  size_t         run_size_;
};

}  // namespace ember::kvm
