// KVM structures that end in a flexible array, with their C layout.
//
// Debian 12's uapi headers declare those arrays with __DECLARE_FLEX_ARRAY,
// which wraps them in a struct holding an empty struct. In C that empty
// struct has size 0; in C++ it has size 1, so under C++ kvm_cpuid2::entries
// sits at offset 12 instead of 8, kvm_msrs::entries at 16 instead of 8, and
// the ioctl numbers (which encode sizeof the struct) change too: KVM then
// answers EINVAL or reads the wrong bytes. ember therefore builds these
// requests from the headers below, whose layout is the kernel's.
#pragma once

#include <linux/kvm.h>

#include <cstddef>
#include <cstdint>

namespace ember::kvm {

struct CpuidHeader {  // struct kvm_cpuid2 without `entries`
  uint32_t nent;
  uint32_t padding;
};
struct MsrsHeader {  // struct kvm_msrs without `entries`
  uint32_t nmsrs;
  uint32_t pad;
};

struct MsrListHeader {  // struct kvm_msr_list without `indices`
  uint32_t nmsrs;
};
struct XsaveArea {  // struct kvm_xsave without `extra` (KVM_CAP_XSAVE2's larger areas)
  uint32_t region[1024];
};
inline constexpr unsigned long kGetXsave          = _IOR(KVMIO, 0xa4, XsaveArea);
inline constexpr unsigned long kSetXsave          = _IOW(KVMIO, 0xa5, XsaveArea);
inline constexpr unsigned long kGetMsrIndexList   = _IOWR(KVMIO, 0x02, MsrListHeader);
inline constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
inline constexpr unsigned long kSetCpuid2         = _IOW(KVMIO, 0x90, CpuidHeader);
inline constexpr unsigned long kSetMsrs           = _IOW(KVMIO, 0x89, MsrsHeader);
inline constexpr unsigned long kGetMsrs           = _IOWR(KVMIO, 0x88, MsrsHeader);

static_assert(sizeof(CpuidHeader) == 8 && sizeof(MsrsHeader) == 8 && sizeof(XsaveArea) == 4096);
static_assert(sizeof(kvm_cpuid_entry2) == 40 && sizeof(kvm_msr_entry) == 16);

}  // namespace ember::kvm
