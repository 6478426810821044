// One KVM virtual machine. ember never creates an in-kernel irqchip: the
// LAPIC, IOAPIC and PIC are emulated in userspace (ARCHITECTURE.md, "The one rule").
#pragma once

#include <cstdint>
#include <span>

#include "base/file_descriptor.h"
#include "kvm/ioctl_error.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"

namespace ember::kvm {

class Vm final {
 public:
  static KvmResult<Vm> create(const Kvm& kvm);

  KvmStatus set_tss_address(uint64_t address);
  KvmStatus set_identity_map_address(uint64_t address);
  KvmStatus map_memory(uint32_t slot, uint64_t guest_address, uint64_t size, void* host);

  // Sends guest RDMSR/WRMSR to userspace as KVM_EXIT_X86_RDMSR/WRMSR
  // (api.rst, KVM_CAP_X86_USER_SPACE_MSR): those in `ranges` always (MSR
  // filter), and any access KVM itself would fault (reasons INVAL and
  // UNKNOWN). The second is the only way to see the x2APIC MSRs, which
  // api.rst says can never be filtered and which KVM faults when it has no
  // in-kernel LAPIC. Userspace must then fault what it does not handle.
  struct MsrRange {
    uint32_t base;
    uint32_t count;
  };
  KvmStatus trap_msrs(std::span<const MsrRange> ranges);
  KvmResult<Vcpu> create_vcpu(uint32_t index) const;

  // Makes a guest MMIO write of `length` bytes equal to `value` at `address`
  // signal `eventfd` inside KVM instead of exiting to the VCPU thread
  // (api.rst, KVM_IOEVENTFD). Writes of other values still exit.
  KvmStatus add_ioeventfd(uint64_t address, uint32_t length, uint64_t value, int eventfd);
  // Undoes add_ioeventfd with the same arguments (KVM_IOEVENTFD_FLAG_DEASSIGN).
  KvmStatus remove_ioeventfd(uint64_t address, uint32_t length, uint64_t value, int eventfd);
  // Makes guest writes to ports [port, port + length) coalesced: recorded in
  // the ring of kvm/coalesced_pio.h instead of exiting.
  KvmStatus coalesce_port_writes(uint16_t port, uint32_t length);
  // The guest's kvmclock in nanoseconds (KVM_GET_CLOCK, KVM_SET_CLOCK): a
  // restored guest's clock goes on from its snapshot's reading.
  KvmResult<uint64_t> clock() const;
  KvmStatus           set_clock(uint64_t nanoseconds);
  int fd() const { return fd_.get(); }

 private:
  Vm(FileDescriptor fd, int vcpu_mmap_size) : fd_{std::move(fd)}, vcpu_mmap_size_{vcpu_mmap_size} {}
  FileDescriptor fd_;
  int            vcpu_mmap_size_;
};

}  // namespace ember::kvm
