// A local APIC (Intel SDM Vol. 3A ch. 11), emulated in userspace: xAPIC
// mode through MMIO, x2APIC mode through MSRs (11.12), and the one-shot,
// periodic and TSC-deadline timer modes. Each one belongs to its VCPU's thread and has no lock: that
// thread handles the guest's register accesses, merges the drained mailbox
// into IRR and injects what deliverable_vector() names. Other threads reach it
// only by posting to the mailbox; what they need to know to address it (ID,
// LDR, DFR, TPR, enable) it publishes in ApicAddressing.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "irq/injection_mailbox.h"
#include "irq/interrupt_router.h"
#include "platform/address_map.h"
#include "snapshot/state_format.h"

namespace ember {

// Where the EOI of a level-triggered vector goes (the IOAPIC).
class EoiListener {
 public:
  virtual ~EoiListener() = default;
  virtual void end_of_interrupt(uint8_t vector) = 0;
};

// The guest's TSC, for TSC-deadline mode: its current value and its
// frequency. khz == 0: TSC-deadline mode is not offered.
struct TscClock {
  std::function<uint64_t()> now;
  uint64_t                  khz = 0;
};

class Lapic final {
 public:
  using Clock = std::function<uint64_t()>;  // monotonic nanoseconds

  static constexpr uint32_t kApicBaseMsr = 0x1b;
  static constexpr uint32_t kTscDeadlineMsr = 0x6e0;
  static constexpr uint32_t kX2apicMsrFirst = 0x800;
  static constexpr uint32_t kX2apicMsrCount = 0x100;

  static constexpr uint64_t kMmioBase = platform::kLapicBase;
  static constexpr uint64_t kMmioSize = platform::kLapicSize;
  // The timer counts at 1 GHz before the divider: one tick per nanosecond.
  static constexpr uint64_t kTimerHz = 1'000'000'000;
  static constexpr uint64_t kMinPeriodNs = 200'000;  // the shortest periodic interval (timer_period)

  Lapic(uint32_t vcpu_index, const InterruptRouter& router, EoiListener& eoi, ApicAddressing& published, Clock clock,
        TscClock tsc = {});

  // xAPIC: 32-bit register access at a 16-byte-aligned offset (SDM 11.4.1).
  uint32_t read_register(uint32_t offset) const;
  void     write_register(uint32_t offset, uint32_t value);

  // RDMSR/WRMSR of IA32_APIC_BASE, IA32_TSC_DEADLINE and the x2APIC range.
  // nullopt / false: the access faults (#GP), as the SDM says it must.
  std::optional<uint64_t> read_msr(uint32_t index) const;
  bool                    write_msr(uint32_t index, uint64_t value);

  // In x2APIC mode the MMIO page is not decoded (SDM 11.12.1).
  bool x2apic_mode() const { return x2apic_; }
  // Whether this LAPIC answers guest-physical `address` for its own VCPU:
  // enabled, in xAPIC mode, inside the 4 KiB page IA32_APIC_BASE names
  // (SDM 11.4.1, 11.4.4). A disabled or x2APIC-mode LAPIC decodes nothing.
  bool     decodes(uint64_t address) const { return xapic_page_enabled(apic_base_) && address - mmio_base() < kMmioSize; }
  uint64_t mmio_base() const { return apic_base_ & kApicBaseAddressMask; }
  // Whether an IA32_APIC_BASE value enables the xAPIC page: EN set, EXTD clear.
  static constexpr bool xapic_page_enabled(uint64_t apic_base) {
    return (apic_base & kApicBaseEnable) != 0 && (apic_base & kApicBaseX2apic) == 0;
  }
  // IA32_APIC_BASE bits (SDM Figure 11-5).
  static constexpr uint64_t kApicBaseEnable = 1 << 11, kApicBaseX2apic = 1 << 10, kApicBaseBsp = 1 << 8;
  static constexpr uint64_t kApicBaseAddressMask = 0x000ffffffffff000;

  // CR8 is TPR[7:4] (SDM 11.8.6.1). Without an in-kernel LAPIC, KVM keeps
  // CR8 itself and carries it in kvm_run::cr8 both ways (api.rst): the VCPU
  // loop hands cr8() to KVM before each entry and write_cr8() what KVM
  // reports after each exit.
  uint8_t cr8() const { return static_cast<uint8_t>(tpr_ >> 4); }
  void    write_cr8(uint64_t cr8);

  // Merges drained fixed vectors into IRR (and TMR for level-triggered ones).
  void accept(const InjectionMailbox::Drained& drained);
  // The highest IRR vector whose priority class is above PPR (SDM 11.8.3.1).
  std::optional<uint8_t> deliverable_vector() const;
  // Whether TPR alone holds back a requested vector: one would be
  // deliverable were TPR 0. The guest releases it by lowering CR8, which
  // not every KVM reports with an exit (VcpuRunner polls then).
  bool tpr_holds_back_a_vector() const;
  // Whether the EOI of `vector`, just injected, may reach the LAPIC late
  // (PV EOI, irq/pv_eoi.h): it is edge-triggered, so no IOAPIC waits for
  // it. A request in IRR behind it is the caller's to weigh
  // (VcpuRunner::review_pv_eoi_offer).
  bool eoi_may_wait(uint8_t vector) const;
  bool requests_pending() const;
  // Whether a requested vector would be deliverable once the next EOI ends
  // the highest vector in service: a request that waits for that EOI, not
  // for TPR or for a lower vector also in service.
  bool request_deliverable_after_eoi() const;
  // The vector an EOI would end now: the highest in service.
  std::optional<uint8_t> highest_in_service() const;
  // EOI: the highest vector in service ends (SDM 11.8.5).
  void end_of_interrupt();
  // The VCPU took `vector`: IRR -> ISR.
  void start_servicing(uint8_t vector);

  // Absolute time of the next timer expiry, if the timer is armed.
  std::optional<uint64_t> timer_deadline() const { return timer_deadline_; }
  // Whether the timer is armed and its deadline is `now` or earlier.
  bool timer_due(uint64_t now) const;
  // Raises the timer interrupt if its deadline has passed.
  void expire_timer(uint64_t now);
  // Whether the timer's next expiry would change nothing the guest can see:
  // its LVT is masked, or its vector already waits in IRR, which holds one
  // bit per vector, so expiries coalesce (SDM 11.8.4). Until the guest
  // takes that vector (an exit: the interrupt window, or an EOI that lets
  // it through; or, where a lowered CR8 makes no exit, the VCPU loop's
  // 1 ms TPR poll) or changes the timer (an exit too), nobody need wake
  // for the deadline; expire_timer keeps the phase when it is called later.
  bool timer_expiry_changes_nothing() const;

  // INIT: back to the power-up state except the APIC ID (SDM 11.4.7.3).
  void reset();

  uint8_t processor_priority() const;
  uint8_t processor_priority(const std::array<uint64_t, 4>& isr) const;  // with `isr` in place of ISR
  // One line for reports of a guest that stopped or hung: IRR, ISR, TPR and
  // the timer, e.g. "IRR {0xec} ISR {} TPR 0x0 timer periodic, due in 3 ms".
  std::string describe() const;
  // Whether an 8259's INT output reaches this CPU: LINT0 unmasked in ExtINT
  // mode (virtual wire, MP spec 3.6.2.2), or the APIC globally disabled, which
  // wires INTR straight to the CPU.
  bool    accepts_extint() const;
  bool    software_enabled() const { return (svr_ & kSvrEnable) != 0; }

  // Snapshot state (snapshot/state_format.h, issue 20). restore checks
  // every value and changes nothing when one is wrong.
  void         save(snapshot::SectionWriter& out);
  Result<void> restore(snapshot::SectionReader& in);

 private:
  static constexpr uint32_t kSvrEnable = 1 << 8;
  static constexpr uint32_t kLvtMasked = 1 << 16;
  static constexpr uint32_t kDeliveryModeNmi = 4, kDeliveryModeExtInt = 7;  // an LVT's bits 10:8
  enum Lvt { kLvtTimer, kLvtThermal, kLvtPerf, kLvtLint0, kLvtLint1, kLvtError, kLvtCmci, kLvtCount };

  void     send_ipi(uint32_t icr_low, uint32_t destination);
  bool     write_apic_base(uint64_t value);
  bool     write_tsc_deadline(uint64_t deadline);
  uint32_t x2apic_logical_id() const;
  bool     hardware_enabled() const { return (apic_base_ & kApicBaseEnable) != 0; }
  void     raise(uint8_t vector, bool level);
  void     start_timer();
  uint64_t timer_divisor() const;
  uint64_t timer_period() const;  // ns from one expiry to the next
  uint64_t timer_mode() const { return (lvt_[kLvtTimer] >> 17) & 3; }
  uint32_t current_count() const;
  void     publish();  // after writes to what the router reads: ID, TPR, LDR, DFR, SVR

  const uint32_t         vcpu_index_;
  const InterruptRouter& router_;
  EoiListener&           eoi_;
  ApicAddressing&        published_;
  Clock                  clock_;
  TscClock               tsc_;

  const uint32_t initial_id_;  // the power-up APIC ID, which x2APIC mode always uses (SDM 11.12.5.1)
  uint64_t apic_base_;
  bool     x2apic_ = false;
  uint64_t tsc_deadline_ = 0;

  std::array<uint64_t, 4> irr_{}, isr_{}, tmr_{};
  std::array<uint32_t, kLvtCount> lvt_{};
  uint32_t id_, tpr_ = 0, ldr_ = 0, dfr_ = 0xffffffff, svr_ = 0xff;
  uint32_t esr_ = 0, pending_esr_ = 0, icr_low_ = 0, icr_high_ = 0;
  uint32_t initial_count_ = 0, divide_config_ = 0;
  std::optional<uint64_t> timer_deadline_;
};

}  // namespace ember
