// The KVM device (/dev/kvm): API version, capabilities, supported CPUID.
#pragma once

#include <linux/kvm.h>

#include <functional>
#include <string>
#include <vector>

#include "base/file_descriptor.h"
#include "kvm/ioctl_error.h"

namespace ember::kvm {

// Checks every capability ember needs against `check` (KVM_CHECK_EXTENSION's
// answer, 0 when absent); the error names the first missing one and why
// ember needs it.
KvmStatus require_capabilities(const std::function<int(long)>& check);

class Kvm final {
 public:
  // Opens the device, checks KVM_API_VERSION is 12 and every capability ember
  // needs is present; the error names the first one missing.
  static KvmResult<Kvm> open(const std::string& path = "/dev/kvm");

  int  fd() const { return fd_.get(); }
  int  check_extension(long capability) const;  // 0 when absent
  KvmResult<int> vcpu_mmap_size() const;
  // KVM_CAP_X86_USER_SPACE_MSR and KVM_CAP_X86_MSR_FILTER: guest MSR accesses can be sent to ember.
  bool supports_msr_exits() const;
  // The page offset of the coalesced I/O ring in a VCPU's kvm_run mapping
  // when KVM coalesces port I/O (kvm/coalesced_pio.h); 0 when it cannot.
  int  coalesced_pio_ring_page() const;
  // The highest VCPU count KVM accepts for one VM.
  int  max_vcpus() const;
  KvmResult<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
  // The MSRs KVM saves and restores for a VCPU (KVM_GET_MSR_INDEX_LIST).
  KvmResult<std::vector<uint32_t>> msr_index_list() const;

 private:
  explicit Kvm(FileDescriptor fd) : fd_{std::move(fd)} {}
  FileDescriptor fd_;
};

}  // namespace ember::kvm
