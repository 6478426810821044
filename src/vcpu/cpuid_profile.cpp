// ember's CPUID profile. Starting from what KVM says it can virtualise:
//
//  leaf 0x1        initial APIC ID = VCPU index (EBX[31:24]); logical
//                  processor count (EBX[23:16]) and HTT set for SMP; the
//                  "hypervisor present" bit (ECX[31]) set; x2APIC (ECX[21])
//                  and TSC-deadline (ECX[24]) set exactly when ember's
//                  LAPIC can offer them on this host (LapicFeatures).
//  leaf 0xb, 0x1f  x2APIC ID (EDX) = VCPU index in every subleaf.
//  0x40000001      KVM paravirtual features that need KVM's in-kernel LAPIC
//                  are cleared (ember never has one): PV EOI (offered again
//                  where ember does it itself, irq/pv_eoi.h), PV unhalt,
//                  PV TLB flush, PV send-IPI, PV sched-yield, async page
//                  faults and the extended MSI destination ID. kvmclock and
//                  the no-op I/O delay stay.
//
// Everything else passes through: the same profile works on bare-metal
// VMX/SVM and on nested hosts because it only ever removes features.
#include "vcpu/cpuid_profile.h"

namespace ember {
namespace {

constexpr uint32_t kHypervisorPresent = 1u << 31, kX2Apic = 1u << 21, kTscDeadline = 1u << 24;
constexpr uint32_t kHtt = 1u << 28;

// KVM_FEATURE_* bits (arch/x86/include/uapi/asm/kvm_para.h).
constexpr uint32_t kvm_feature(unsigned bit) { return 1u << bit; }
constexpr uint32_t kKvmFeaturePvEoi = kvm_feature(6);
constexpr uint32_t kKvmFeaturesNeedingInKernelLapic =
    kvm_feature(4) |   // ASYNC_PF
    kvm_feature(6) |   // PV_EOI (kKvmFeaturePvEoi)
    kvm_feature(7) |   // PV_UNHALT
    kvm_feature(9) |   // PV_TLB_FLUSH
    kvm_feature(11) |  // PV_SEND_IPI
    kvm_feature(13) |  // PV_SCHED_YIELD
    kvm_feature(14) |  // ASYNC_PF_INT
    kvm_feature(15);   // MSI_EXT_DEST_ID

}  // namespace

std::vector<kvm_cpuid_entry2> cpuid_for_vcpu(std::vector<kvm_cpuid_entry2> entries, uint32_t index, uint32_t count,
                                             LapicFeatures lapic) {
  for (auto& entry : entries) {
    switch (entry.function) {
      case 0x1:
        entry.ebx = (entry.ebx & 0x0000ffff) | (index << 24) | ((count & 0xff) << 16);
        if (count > 1) entry.edx |= kHtt;
        entry.ecx = (entry.ecx | kHypervisorPresent) & ~(kX2Apic | kTscDeadline);
        if (lapic.x2apic) entry.ecx |= kX2Apic;
        if (lapic.tsc_deadline) entry.ecx |= kTscDeadline;
        break;
      case 0xb:
      case 0x1f:
        entry.edx = index;
        break;
      case 0x40000001:
        entry.eax &= ~kKvmFeaturesNeedingInKernelLapic;
        if (lapic.pv_eoi) entry.eax |= kKvmFeaturePvEoi;
        break;
      default:
        break;
    }
  }
  return entries;
}

bool kvm_offers_pv_eoi(const std::vector<kvm_cpuid_entry2>& supported) {
  for (const auto& entry : supported) {
    if (entry.function == 0x40000001) return (entry.eax & kKvmFeaturePvEoi) != 0;
  }
  return false;
}

unsigned physical_address_bits(const std::vector<kvm_cpuid_entry2>& entries) {
  for (const auto& entry : entries) {
    if (entry.function == 0x80000008 && (entry.eax & 0xff) != 0) return entry.eax & 0xff;
  }
  return 36;
}

}  // namespace ember
