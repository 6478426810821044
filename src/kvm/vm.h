// One KVM virtual machine. ember never creates an in-kernel irqchip: the
// LAPIC, IOAPIC and PIC are emulated in userspace (DESIGN.md).
#pragma once

#include <cstdint>

#include "base/file_descriptor.h"
#include "base/result.h"
#include "kvm/kvm.h"
#include "kvm/vcpu.h"

namespace ember::kvm {

class Vm final {
 public:
  static Result<Vm> create(const Kvm& kvm);

  Status set_tss_address(uint64_t address);
  Status set_identity_map_address(uint64_t address);
  Status map_memory(uint32_t slot, uint64_t guest_address, uint64_t size, void* host);
  Result<Vcpu> create_vcpu(uint32_t index) const;
  int fd() const { return fd_.get(); }

 private:
  Vm(FileDescriptor fd, int vcpu_mmap_size) : fd_{std::move(fd)}, vcpu_mmap_size_{vcpu_mmap_size} {}
  FileDescriptor fd_;
  int            vcpu_mmap_size_;
};

}  // namespace ember::kvm
