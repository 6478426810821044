#include "kvm/vcpu.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>
#include <memory>

#include "base/clock.h"
#include "kvm/flexible_array_ioctls.h"
#include "kvm/ioctl_error.h"

namespace ember::kvm {

Vcpu::Vcpu(Vcpu&& other) noexcept
    : fd_{std::move(other.fd_)}, run_{std::exchange(other.run_, nullptr)}, run_size_{other.run_size_} {}

Vcpu::~Vcpu() {
  if (run_ != nullptr) ::munmap(run_, run_size_);
}

KvmResult<RunResult> Vcpu::run() {
  if (::ioctl(fd_.get(), KVM_RUN, 0) == 0) return RunResult::Exited;
  if (errno == EINTR || errno == EAGAIN) return RunResult::Interrupted;
  return ioctl_error("KVM_RUN");
}

KvmResult<kvm_regs> Vcpu::get_regs() const {
  kvm_regs regs{};
  if (::ioctl(fd_.get(), KVM_GET_REGS, &regs) != 0) return ioctl_error("KVM_GET_REGS");
  return regs;
}

KvmStatus Vcpu::set_regs(const kvm_regs& regs) {
  if (::ioctl(fd_.get(), KVM_SET_REGS, &regs) != 0) return ioctl_error("KVM_SET_REGS");
  return {};
}

KvmResult<kvm_sregs> Vcpu::get_sregs() const {
  kvm_sregs sregs{};
  if (::ioctl(fd_.get(), KVM_GET_SREGS, &sregs) != 0) return ioctl_error("KVM_GET_SREGS");
  return sregs;
}

KvmStatus Vcpu::set_sregs(const kvm_sregs& sregs) {
  if (::ioctl(fd_.get(), KVM_SET_SREGS, &sregs) != 0) return ioctl_error("KVM_SET_SREGS");
  return {};
}

KvmResult<uint64_t> Vcpu::get_msr(uint32_t index) const {
  struct {
    MsrsHeader    header;
    kvm_msr_entry entry;
  } request{{1, 0}, {.index = index, .reserved = 0, .data = 0}};
  const int read = ::ioctl(fd_.get(), kGetMsrs, &request);
  if (read < 0) return ioctl_error("KVM_GET_MSRS");
  if (read != 1) return KvmError{"KVM_GET_MSRS", 0, "KVM_GET_MSRS refused MSR " + std::to_string(index)};
  return request.entry.data;
}

KvmStatus Vcpu::set_msr(uint32_t index, uint64_t value) {
  const std::array<kvm_msr_entry, 1> entry{{{.index = index, .reserved = 0, .data = value}}};
  return set_msrs(entry);
}

KvmResult<uint32_t> Vcpu::tsc_khz() const {
  const int khz = ::ioctl(fd_.get(), KVM_GET_TSC_KHZ, 0);
  if (khz <= 0) return ioctl_error("KVM_GET_TSC_KHZ");
  return static_cast<uint32_t>(khz);
}

KvmStatus Vcpu::interrupt(uint8_t vector) {
  const kvm_interrupt request{.irq = vector};
  if (::ioctl(fd_.get(), KVM_INTERRUPT, &request) != 0) return ioctl_error("KVM_INTERRUPT");
  return {};
}

KvmStatus Vcpu::nmi() {
  if (::ioctl(fd_.get(), KVM_NMI, 0) != 0) return ioctl_error("KVM_NMI");
  return {};
}

KvmResult<kvm_fpu> Vcpu::get_fpu() const {
  kvm_fpu fpu{};
  if (::ioctl(fd_.get(), KVM_GET_FPU, &fpu) != 0) return ioctl_error("KVM_GET_FPU");
  return fpu;
}

KvmStatus Vcpu::inject_exception(uint8_t vector, std::optional<uint32_t> error_code) {
  // api.rst, KVM_SET_VCPU_EVENTS: read the events back, set the exception,
  // and write them with flags 0 so NMI, SIPI and shadow state stay as KVM
  // has them.
  kvm_vcpu_events events{};
  if (::ioctl(fd_.get(), KVM_GET_VCPU_EVENTS, &events) != 0) return ioctl_error("KVM_GET_VCPU_EVENTS");
  events.exception.injected = 1;
  events.exception.nr = vector;
  events.exception.has_error_code = error_code.has_value() ? 1 : 0;
  events.exception.error_code = error_code.value_or(0);
  events.flags = 0;
  if (::ioctl(fd_.get(), KVM_SET_VCPU_EVENTS, &events) != 0) return ioctl_error("KVM_SET_VCPU_EVENTS");
  return {};
}

KvmStatus Vcpu::set_fpu(const kvm_fpu& fpu) {
  if (::ioctl(fd_.get(), KVM_SET_FPU, &fpu) != 0) return ioctl_error("KVM_SET_FPU");
  return {};
}

namespace {

// A C-layout header followed by its entries, in 8-byte-aligned storage.
template <class Header, class Entry>
std::unique_ptr<uint64_t[]> with_entries(std::span<const Entry> entries, Header*& header) {
  const size_t bytes = sizeof(Header) + entries.size() * sizeof(Entry);
  auto storage = std::make_unique<uint64_t[]>(bytes / sizeof(uint64_t) + 1);
  header = reinterpret_cast<Header*>(storage.get());
  std::memcpy(reinterpret_cast<uint8_t*>(header) + sizeof(Header), entries.data(), entries.size() * sizeof(Entry));
  return storage;
}

}  // namespace

KvmStatus Vcpu::set_cpuid(std::span<const kvm_cpuid_entry2> entries) {
  CpuidHeader* cpuid = nullptr;
  const auto storage = with_entries(entries, cpuid);
  cpuid->nent = static_cast<uint32_t>(entries.size());
  if (::ioctl(fd_.get(), kSetCpuid2, cpuid) != 0) return ioctl_error("KVM_SET_CPUID2");
  return {};
}

KvmResult<VcpuState> Vcpu::save_state(std::span<const uint32_t> msrs) const {
  VcpuState state;
  const int fd = fd_.get();
  if (::ioctl(fd, KVM_GET_REGS, &state.regs) != 0) return ioctl_error("KVM_GET_REGS");
  if (::ioctl(fd, KVM_GET_SREGS, &state.sregs) != 0) return ioctl_error("KVM_GET_SREGS");
  if (::ioctl(fd, kGetXsave, &state.xsave) != 0) return ioctl_error("KVM_GET_XSAVE");
  if (::ioctl(fd, KVM_GET_XCRS, &state.xcrs) != 0) return ioctl_error("KVM_GET_XCRS");
  if (::ioctl(fd, KVM_GET_DEBUGREGS, &state.debugregs) != 0) return ioctl_error("KVM_GET_DEBUGREGS");
  if (::ioctl(fd, KVM_GET_VCPU_EVENTS, &state.events) != 0) return ioctl_error("KVM_GET_VCPU_EVENTS");
  // One at a time: KVM_GET_MSRS stops at the first MSR it cannot read, and
  // the index list holds some a given CPU lacks.
  // The TSC last, so the caller can read the kvmclock right after it: the
  // two must keep their relation across a snapshot (restore_state).
  constexpr uint32_t kTsc = 0x10;
  for (const uint32_t index : msrs) {
    if (index == kTsc) continue;
    if (auto value = get_msr(index)) state.msrs.push_back({.index = index, .reserved = 0, .data = *value});
  }
  if (auto tsc = get_msr(kTsc)) state.msrs.push_back({.index = kTsc, .reserved = 0, .data = *tsc});
  return state;
}

KvmStatus Vcpu::restore_state(const VcpuState& state, uint64_t* tsc_set_at) {
  // QEMU's order (target/i386/kvm/kvm.c, kvm_arch_put_registers): registers,
  // XSAVE and XCRs, special registers, MSRs, then events and debug registers.
  const int fd = fd_.get();
  if (::ioctl(fd, KVM_SET_REGS, &state.regs) != 0) return ioctl_error("KVM_SET_REGS");
  if (::ioctl(fd, kSetXsave, &state.xsave) != 0) return ioctl_error("KVM_SET_XSAVE");
  if (::ioctl(fd, KVM_SET_XCRS, &state.xcrs) != 0) return ioctl_error("KVM_SET_XCRS");
  if (::ioctl(fd, KVM_SET_SREGS, &state.sregs) != 0) return ioctl_error("KVM_SET_SREGS");
  // One at a time: KVM lists MSRs it then refuses to set in some set-ups
  // (MSR_KVM_ASYNC_PF_INT needs an in-kernel LAPIC, which ember never has).
  // Such an MSR that already holds the saved value is no loss; any other
  // refusal is.
  constexpr uint32_t kTsc = 0x10;
  const kvm_msr_entry* tsc = nullptr;
  for (const kvm_msr_entry& msr : state.msrs) {
    if (msr.index == kTsc) {
      tsc = &msr;
      continue;
    }
    if (set_msrs({&msr, 1})) continue;
    const auto now = get_msr(msr.index);
    if (!now || *now != msr.data) {
      return KvmError{"KVM_SET_MSRS", 0, "KVM_SET_MSRS refused MSR " + std::to_string(msr.index) + " = " + std::to_string(msr.data)};
    }
  }
  kvm_vcpu_events events = state.events;
  // Only what KVM_GET_VCPU_EVENTS said is valid is set.
  if (::ioctl(fd, KVM_SET_VCPU_EVENTS, &events) != 0) return ioctl_error("KVM_SET_VCPU_EVENTS");
  if (::ioctl(fd, KVM_SET_DEBUGREGS, &state.debugregs) != 0) return ioctl_error("KVM_SET_DEBUGREGS");
  // The TSC last, so the caller can set the kvmclock right after it.
  if (tsc != nullptr) {
    const uint64_t before = monotonic_ns();
    if (auto set = set_msrs({tsc, 1}); !set) return set;
    if (tsc_set_at != nullptr) *tsc_set_at = before + (monotonic_ns() - before) / 2;
  }
  return {};
}

KvmStatus Vcpu::set_msrs(std::span<const kvm_msr_entry> entries) {
  MsrsHeader* msrs = nullptr;
  const auto storage = with_entries(entries, msrs);
  msrs->nmsrs = static_cast<uint32_t>(entries.size());
  const int written = ::ioctl(fd_.get(), kSetMsrs, msrs);
  if (written < 0) return ioctl_error("KVM_SET_MSRS");
  // KVM_SET_MSRS returns how many it set and stops at the first it refuses.
  if (static_cast<size_t>(written) != entries.size()) {
    return KvmError{"KVM_SET_MSRS", 0, "KVM_SET_MSRS refused MSR " + std::to_string(entries[static_cast<size_t>(written)].index)};
  }
  return {};
}

}  // namespace ember::kvm
