#include "vcpu/msr_setup.h"

#include <array>

namespace ember {
namespace {

constexpr uint32_t kIa32ApicBase = 0x1b;
constexpr uint64_t kApicBaseBsp = 1 << 8, kApicBaseGlobalEnable = 1 << 11;  // SDM Vol. 3A 11.4.4
constexpr uint32_t kIa32MiscEnable = 0x1a0;
constexpr uint64_t kMiscEnableFastStrings = 1 << 0;  // SDM Vol. 4, IA32_MISC_ENABLE bit 0
constexpr uint32_t kIa32MtrrDefType = 0x2ff;
constexpr uint64_t kMtrrEnable = 1 << 11, kMtrrTypeWriteBack = 6;  // SDM Vol. 3A 12.11.2.1

}  // namespace

Status set_boot_msrs(kvm::Vcpu& vcpu, bool bootstrap_processor) {
  // With MTRRs disabled the guest kernel treats all memory as uncacheable
  // and complains; firmware enables them with write-back as the default.
  // The APIC base as firmware leaves it: globally enabled at 0xfee00000,
  // with the BSP flag on VCPU 0. KVM keeps the value for us even without an
  // in-kernel LAPIC; ember's LAPIC answers at that address.
  const uint64_t apic_base = 0xfee00000 | kApicBaseGlobalEnable | (bootstrap_processor ? kApicBaseBsp : 0);
  const std::array<kvm_msr_entry, 3> entries{{
      {.index = kIa32ApicBase, .reserved = 0, .data = apic_base},
      {.index = kIa32MiscEnable, .reserved = 0, .data = kMiscEnableFastStrings},
      {.index = kIa32MtrrDefType, .reserved = 0, .data = kMtrrEnable | kMtrrTypeWriteBack},
  }};
  return vcpu.set_msrs(entries);
}

}  // namespace ember
