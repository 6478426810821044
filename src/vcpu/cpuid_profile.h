// The CPUID ember's guests see, derived from KVM_GET_SUPPORTED_CPUID.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <vector>

namespace ember {

// What ember's LAPIC can offer on this host: both need guest MSR accesses
// sent to userspace (KVM_CAP_X86_USER_SPACE_MSR + MSR filter), TSC-deadline
// also the guest TSC frequency.
struct LapicFeatures {
  bool x2apic = false;
  bool tsc_deadline = false;
  bool pv_eoi = false;  // KVM_FEATURE_PV_EOI, done by ember (irq/pv_eoi.h)
};

// Adjusts KVM's supported CPUID for VCPU `index` of `count`; see the profile
// described in cpuid_profile.cpp.
std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(std::vector<kvm_cpuid_entry2> supported, uint32_t index, uint32_t count,
                                             LapicFeatures lapic = {});

// Whether KVM's supported CPUID has KVM_FEATURE_PV_EOI, so its MSR exists
// for ember to take over.
bool kvm_offers_pv_eoi(const std::vector<kvm_cpuid_entry2>& supported);

// The MAXPHYADDR `entries` give: CPUID 80000008H EAX[7:0], or 36 without
// that leaf (SDM Vol. 3A 4.1.4).
unsigned physical_address_bits(const std::vector<kvm_cpuid_entry2>& entries);

}  // namespace ember
