// The CPUID ember's guests see, derived from KVM_GET_SUPPORTED_CPUID.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace ember {

// Adjusts KVM's supported CPUID for VCPU `index` of `count`; see the profile
// described in cpuid_profile.cpp.
std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(std::vector<kvm_cpuid_entry2> supported, uint32_t index, uint32_t count);

}  // namespace ember
