#include "irq/lapic.h"

#include <algorithm>
#include <bit>
#include <string>

#include "base/log.h"
#include "base/strings.h"

namespace ember {
namespace {

// Register offsets (SDM Vol. 3A Table 11-1).
enum Register : uint32_t {
  kId = 0x20, kVersion = 0x30, kTpr = 0x80, kApr = 0x90, kPpr = 0xa0, kEoi = 0xb0, kRrd = 0xc0, kLdr = 0xd0,
  kDfr = 0xe0, kSvr = 0xf0, kIsr = 0x100, kTmr = 0x180, kIrr = 0x200, kEsr = 0x280, kLvtCmciRegister = 0x2f0,
  kIcrLow = 0x300, kIcrHigh = 0x310, kLvtTimerRegister = 0x320, kLvtErrorRegister = 0x370, kInitialCount = 0x380,
  kCurrentCount = 0x390, kDivideConfig = 0x3e0,
};

constexpr uint32_t kVersionValue = 0x14 | (6u << 16);  // integrated APIC, 7 LVT entries (max index 6)
constexpr uint32_t kEsrReceiveIllegalVector = 1 << 6;
constexpr uint64_t kTimerOneShot = 0, kTimerPeriodic = 1, kTimerTscDeadline = 2;

bool test_bit(const std::array<uint64_t, 4>& bits, unsigned v) { return (bits[v / 64] >> (v % 64)) & 1; }
void set_bit(std::array<uint64_t, 4>& bits, unsigned v) { bits[v / 64] |= uint64_t{1} << (v % 64); }
void clear_bit(std::array<uint64_t, 4>& bits, unsigned v) { bits[v / 64] &= ~(uint64_t{1} << (v % 64)); }

// The highest set bit, or -1.
int highest(const std::array<uint64_t, 4>& bits) {
  for (int word = 3; word >= 0; --word) {
    if (bits[static_cast<size_t>(word)] != 0) return word * 64 + 63 - std::countl_zero(bits[static_cast<size_t>(word)]);
  }
  return -1;
}

// ISR/TMR/IRR are read as eight 32-bit registers, 16 bytes apart.
uint32_t register_word(const std::array<uint64_t, 4>& bits, uint32_t index) {
  return static_cast<uint32_t>(bits[index / 2] >> ((index % 2) * 32));
}

// Which LVT a register offset names; -1 if none.
int lvt_index(uint32_t offset) {
  if (offset == kLvtCmciRegister) return 6;
  if (offset >= kLvtTimerRegister && offset <= kLvtErrorRegister) return static_cast<int>((offset - kLvtTimerRegister) / 0x10);
  return -1;
}

// Writable bits of each LVT (SDM Figure 11-8): vector, delivery mode,
// polarity, trigger mode, mask, and the timer mode for the timer LVT.
constexpr std::array<uint32_t, 7> kLvtWritable = {0x000700ff, 0x000107ff, 0x000107ff, 0x0001a7ff,
                                                  0x0001a7ff, 0x000100ff, 0x000107ff};

}  // namespace

Lapic::Lapic(uint32_t vcpu_index, const InterruptRouter& router, EoiListener& eoi, ApicAddressing& published, Clock clock,
             TscClock tsc)
    : vcpu_index_{vcpu_index},
      router_{router},
      eoi_{eoi},
      published_{published},
      clock_{std::move(clock)},
      tsc_{std::move(tsc)},
      initial_id_{vcpu_index},
      apic_base_{kMmioBase | kApicBaseEnable | (vcpu_index == 0 ? kApicBaseBsp : 0)},
      id_{vcpu_index} {
  reset();
}

void Lapic::reset() {
  irr_ = isr_ = tmr_ = {};
  lvt_.fill(kLvtMasked);
  // The boot CPU comes up in virtual-wire mode, as PC firmware leaves it
  // (MP spec 1.4, 3.6.2.2) and KVM's own LAPIC does (its LINT0_REENABLED
  // quirk): LINT0 takes the 8259's INTR as ExtINT, LINT1 is the NMI. An OS
  // that keeps the PIC (Linux in "PIC mode", without MP table or MADT)
  // never programs the LAPIC and relies on this. The 8259s start with every
  // IRQ masked (pic8259.h), so nothing arrives before the guest sets them up.
  if (apic_base_ & kApicBaseBsp) {
    lvt_[kLvtLint0] = kDeliveryModeExtInt << 8;
    lvt_[kLvtLint1] = kDeliveryModeNmi << 8;
  }
  tpr_ = ldr_ = 0;
  dfr_ = 0xffffffff;
  svr_ = 0xff;
  esr_ = pending_esr_ = icr_low_ = icr_high_ = 0;
  initial_count_ = divide_config_ = 0;
  tsc_deadline_ = 0;
  timer_deadline_.reset();
  publish();
}

uint32_t Lapic::x2apic_logical_id() const {
  // x2APIC LDR is derived from the ID: cluster ID[19:4] in bits 31:16, one
  // bit for ID[3:0] in bits 15:0 (SDM 11.12.10.2).
  return ((id_ >> 4) << 16) | (1u << (id_ & 0xf));
}

void Lapic::publish() {
  published_.id.store(id_, std::memory_order_relaxed);
  published_.ldr.store(x2apic_ ? x2apic_logical_id() : ldr_, std::memory_order_relaxed);
  published_.x2apic.store(x2apic_, std::memory_order_relaxed);
  published_.dfr.store(dfr_, std::memory_order_relaxed);
  published_.tpr.store(static_cast<uint8_t>(tpr_), std::memory_order_relaxed);
  published_.software_enabled.store(hardware_enabled() && software_enabled(), std::memory_order_release);
}

uint8_t Lapic::processor_priority() const { return processor_priority(isr_); }

uint8_t Lapic::processor_priority(const std::array<uint64_t, 4>& isr) const {
  // SDM 11.8.3.1: PPR = TPR if TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4.
  const int in_service = highest(isr);
  const uint32_t isrv = in_service < 0 ? 0 : static_cast<uint32_t>(in_service);
  return static_cast<uint8_t>((tpr_ & 0xf0) >= (isrv & 0xf0) ? tpr_ : (isrv & 0xf0));
}

void Lapic::write_cr8(uint64_t cr8) {
  // MOV to CR8 sets TPR[7:4] = CR8[3:0] and clears TPR[3:0] (SDM 11.8.6.1);
  // a CR8 that still matches TPR[7:4] leaves TPR's low bits alone.
  const uint32_t priority_class = static_cast<uint32_t>(cr8 & 0xf);
  if (priority_class == tpr_ >> 4) return;
  tpr_ = priority_class << 4;
  publish();
}

bool Lapic::accepts_extint() const {
  if (!hardware_enabled()) return true;
  const uint32_t lint0 = lvt_[kLvtLint0];
  return (lint0 & kLvtMasked) == 0 && ((lint0 >> 8) & 7) == kDeliveryModeExtInt;
}

std::optional<uint8_t> Lapic::deliverable_vector() const {
  const int requested = highest(irr_);
  if (requested < 0) return std::nullopt;
  if ((static_cast<uint32_t>(requested) & 0xf0) <= (processor_priority() & 0xf0u)) return std::nullopt;
  return static_cast<uint8_t>(requested);
}

bool Lapic::tpr_holds_back_a_vector() const {
  const int requested = highest(irr_), in_service = highest(isr_);
  if (requested < 0 || deliverable_vector()) return false;
  // Were TPR 0, PPR would be ISRV[7:4] << 4 (SDM 11.8.3.1).
  const uint32_t in_service_class = in_service < 0 ? 0 : static_cast<uint32_t>(in_service) & 0xf0;
  return (static_cast<uint32_t>(requested) & 0xf0) > in_service_class;
}

bool Lapic::requests_pending() const { return highest(irr_) >= 0; }

bool Lapic::request_deliverable_after_eoi() const {
  const int requested = highest(irr_), in_service = highest(isr_);
  if (requested < 0 || in_service < 0) return false;
  auto after_eoi = isr_;
  clear_bit(after_eoi, static_cast<unsigned>(in_service));
  return (static_cast<uint32_t>(requested) & 0xf0) > (processor_priority(after_eoi) & 0xf0u);
}

std::optional<uint8_t> Lapic::highest_in_service() const {
  const int vector = highest(isr_);
  if (vector < 0) return std::nullopt;
  return static_cast<uint8_t>(vector);
}

bool Lapic::eoi_may_wait(uint8_t vector) const { return !test_bit(tmr_, vector); }

void Lapic::start_servicing(uint8_t vector) {
  clear_bit(irr_, vector);
  set_bit(isr_, vector);
}

void Lapic::raise(uint8_t vector, bool level) {
  if (vector < 16) {
    pending_esr_ |= kEsrReceiveIllegalVector;
    return;
  }
  set_bit(irr_, vector);
  if (level) set_bit(tmr_, vector);
  else clear_bit(tmr_, vector);
}

void Lapic::accept(const InjectionMailbox::Drained& drained) {
  // A software-disabled APIC keeps what IRR holds but takes no new fixed
  // interrupts; NMI, INIT and SIPI still arrive (SDM 11.4.7.2), handled by
  // the VCPU loop.
  if (!software_enabled() || !hardware_enabled()) return;
  for (unsigned word = 0; word < 4; ++word) {
    uint64_t pending = drained.vectors[word];
    while (pending != 0) {
      const unsigned bit = static_cast<unsigned>(std::countr_zero(pending));
      pending &= pending - 1;
      raise(static_cast<uint8_t>(word * 64 + bit), (drained.level[word] >> bit) & 1);
    }
  }
}

void Lapic::end_of_interrupt() {
  const int vector = highest(isr_);
  if (vector < 0) return;
  clear_bit(isr_, static_cast<unsigned>(vector));
  // A level-triggered vector's EOI goes to the IOAPIC so it can clear the
  // pin's remote IRR (SDM 11.8.5).
  if (test_bit(tmr_, static_cast<unsigned>(vector))) eoi_.end_of_interrupt(static_cast<uint8_t>(vector));
}

void Lapic::send_ipi(uint32_t icr_low, uint32_t destination) {
  InterruptMessage message;
  message.vector = static_cast<uint8_t>(icr_low & 0xff);
  message.mode = static_cast<DeliveryMode>((icr_low >> 8) & 7);
  message.logical = (icr_low >> 11) & 1;
  const bool level_assert = (icr_low >> 14) & 1;
  const bool level_trigger = (icr_low >> 15) & 1;
  message.shorthand = static_cast<Shorthand>((icr_low >> 18) & 3);
  message.destination = destination;
  message.source_vcpu = vcpu_index_;
  message.x2apic = x2apic_;
  // An INIT with level de-assert only synchronises arbitration IDs on old
  // APICs; modern ones ignore it (SDM 11.6.1).
  if (message.mode == DeliveryMode::Init && level_trigger && !level_assert) return;
  if (router_.deliver(message) == 0) {
    EMBER_GUEST_WARNING("VCPU " + std::to_string(vcpu_index_) + " sent an IPI (ICR " + hex(icr_low) + ", destination " +
                        hex(message.destination) + ") that reached no APIC");
  }
}

uint32_t Lapic::read_register(uint32_t offset) const {
  if (const int lvt = lvt_index(offset); lvt >= 0) return lvt_[static_cast<size_t>(lvt)];
  if (offset >= kIsr && offset < kIsr + 0x80) return register_word(isr_, (offset - kIsr) / 0x10);
  if (offset >= kTmr && offset < kTmr + 0x80) return register_word(tmr_, (offset - kTmr) / 0x10);
  if (offset >= kIrr && offset < kIrr + 0x80) return register_word(irr_, (offset - kIrr) / 0x10);
  switch (offset) {
    case kId:            return id_ << 24;
    case kVersion:       return kVersionValue;
    case kTpr:           return tpr_;
    case kApr:           return 0;
    case kPpr:           return processor_priority();
    case kLdr:           return ldr_;
    case kDfr:           return dfr_;
    case kSvr:           return svr_;
    case kEsr:           return esr_;
    case kIcrLow:        return icr_low_;  // delivery status (bit 12) always idle: IPIs are posted at once
    case kIcrHigh:       return icr_high_;
    case kInitialCount:  return initial_count_;
    case kCurrentCount:  return current_count();
    case kDivideConfig:  return divide_config_;
    default:             return 0;  // EOI, RRD and reserved registers read as zero
  }
}

void Lapic::write_register(uint32_t offset, uint32_t value) {
  if (const int lvt = lvt_index(offset); lvt >= 0) {
    uint32_t written = value & kLvtWritable[static_cast<size_t>(lvt)];
    if (!software_enabled()) written |= kLvtMasked;  // SDM 11.4.7.2: masks stay set while disabled
    // A count that reached zero under the old mode has fired already: a
    // one-shot that ran out must not come back as periodic.
    if (lvt == kLvtTimer) expire_timer(clock_());
    const uint64_t old_mode = timer_mode();
    lvt_[static_cast<size_t>(lvt)] = written;
    // Only a switch into or out of TSC-deadline mode disarms the timer
    // (SDM 11.5.4.1); between one-shot and periodic the count runs on and
    // the new mode applies when it reaches zero.
    if (lvt == kLvtTimer && old_mode != timer_mode() && (old_mode == kTimerTscDeadline || timer_mode() == kTimerTscDeadline)) {
      initial_count_ = 0;
      tsc_deadline_ = 0;
      timer_deadline_.reset();
    }
    return;
  }
  switch (offset) {
    case kId:
      id_ = value >> 24;
      publish();
      break;
    case kTpr:
      tpr_ = value & 0xff;
      publish();
      break;
    case kEoi:
      end_of_interrupt();
      break;
    case kLdr:
      ldr_ = value & 0xff000000;
      publish();
      break;
    case kDfr:
      dfr_ = value | 0x0fffffff;
      publish();
      break;
    case kSvr:
      // Bit 12 (suppress EOI broadcast) is not offered: version bit 24 is 0.
      svr_ = value & 0x3ff;
      if (!software_enabled()) {
        for (auto& lvt : lvt_) lvt |= kLvtMasked;
      }
      publish();
      break;
    case kEsr:
      // A write latches the errors seen since the last one (SDM 11.5.3).
      esr_ = pending_esr_;
      pending_esr_ = 0;
      break;
    case kIcrHigh:
      icr_high_ = value & 0xff000000;
      break;
    case kIcrLow:
      icr_low_ = value & 0x000ccfff;
      send_ipi(icr_low_, icr_high_ >> 24);
      break;
    case kInitialCount:
      if (timer_mode() == kTimerTscDeadline) break;  // ignored in TSC-deadline mode (SDM 11.5.4.1)
      initial_count_ = value;
      start_timer();
      break;
    case kDivideConfig:
      divide_config_ = value & 0xb;
      break;
    default:
      break;  // read-only or reserved: ignored
  }
}

uint64_t Lapic::timer_divisor() const {
  // Divide configuration bits 3,1,0 (SDM Figure 11-10): 000 = 2 ... 110 = 128, 111 = 1.
  const uint32_t code = ((divide_config_ >> 1) & 4) | (divide_config_ & 3);
  return code == 7 ? 1 : uint64_t{2} << code;
}

void Lapic::start_timer() {
  const uint64_t mode = timer_mode();
  if (initial_count_ == 0 || (mode != kTimerOneShot && mode != kTimerPeriodic)) {
    timer_deadline_.reset();
    return;
  }
  timer_deadline_ = clock_() + timer_period();
}

uint64_t Lapic::timer_period() const {
  // The counter runs at kTimerHz (1 GHz): one tick per nanosecond. A
  // periodic timer interrupts at most every kMinPeriodNs, as KVM's in-kernel
  // LAPIC (arch/x86/kvm/lapic.c, min_timer_period_us = 200): a count of 1
  // would otherwise wake the VCPU thread a billion times a second. The
  // current count the guest reads stays within the true period.
  const uint64_t period = uint64_t{initial_count_} * timer_divisor() * (1'000'000'000 / kTimerHz);
  return timer_mode() == kTimerPeriodic ? std::max(period, kMinPeriodNs) : period;
}

uint32_t Lapic::current_count() const {
  // Counted from the deadline, not from the start: a switch between one-shot
  // and periodic keeps the count running.
  if (!timer_deadline_ || initial_count_ == 0 || timer_mode() == kTimerTscDeadline) return 0;
  const uint64_t period = uint64_t{initial_count_} * timer_divisor();
  const uint64_t now = clock_();
  uint64_t remaining = 0;
  if (now < *timer_deadline_) remaining = *timer_deadline_ - now;
  else if (timer_mode() == kTimerPeriodic) remaining = period - (now - *timer_deadline_) % period;
  return static_cast<uint32_t>(std::min<uint64_t>(remaining / timer_divisor(), initial_count_));
}

bool Lapic::timer_due(uint64_t now) const { return timer_deadline_ && now >= *timer_deadline_; }

void Lapic::expire_timer(uint64_t now) {
  if (!timer_due(now)) return;
  const uint32_t lvt = lvt_[kLvtTimer];
  if ((lvt & kLvtMasked) == 0) raise(static_cast<uint8_t>(lvt & 0xff), false);
  if (timer_mode() == kTimerTscDeadline) {
    tsc_deadline_ = 0;  // reads 0 once it has fired (SDM 11.5.4.1)
    timer_deadline_.reset();
  } else if (timer_mode() == kTimerPeriodic) {
    // Periods missed while the VCPU was busy coalesce into one interrupt,
    // as IRR holds one bit per vector; the phase is kept.
    const uint64_t period = timer_period();
    const uint64_t missed = (now - *timer_deadline_) / period + 1;
    timer_deadline_ = *timer_deadline_ + missed * period;
  } else {
    timer_deadline_.reset();
  }
}

bool Lapic::timer_expiry_changes_nothing() const {
  const uint32_t lvt = lvt_[kLvtTimer];
  return (lvt & kLvtMasked) != 0 || test_bit(irr_, lvt & 0xff);
}

std::string Lapic::describe() const {
  const auto vectors = [](const std::array<uint64_t, 4>& bits) {
    std::string list;
    for (unsigned v = 0; v < 256; ++v) {
      if (test_bit(bits, v)) list += (list.empty() ? "" : ",") + hex(v);
    }
    return "{" + list + "}";
  };
  static constexpr const char* kModes[] = {"one-shot", "periodic", "TSC-deadline", "reserved"};
  std::string timer = std::string("timer ") + kModes[timer_mode()] + ((lvt_[kLvtTimer] & kLvtMasked) ? " (masked)" : "");
  if (!timer_deadline_) {
    timer += ", not armed";
  } else {
    const uint64_t now = clock_();
    timer += *timer_deadline_ <= now ? ", due now" : ", due in " + std::to_string((*timer_deadline_ - now) / 1'000'000) + " ms";
  }
  return "IRR " + vectors(irr_) + " ISR " + vectors(isr_) + " TPR " + hex(tpr_) + " " + timer;
}

// ---- MSRs: IA32_APIC_BASE, IA32_TSC_DEADLINE and x2APIC (SDM 11.12) ----

namespace {

constexpr uint32_t kX2apicIcr = 0x830, kX2apicSelfIpi = 0x83f;

uint32_t x2apic_offset(uint32_t index) { return (index - Lapic::kX2apicMsrFirst) << 4; }

// Registers that exist in x2APIC mode, and which of them are read-only or
// write-only (SDM Vol. 3A Table 11-6). DFR and the ICR's high half do not.
bool x2apic_readable(uint32_t offset) {
  switch (offset) {
    case kId: case kVersion: case kTpr: case kPpr: case kLdr: case kSvr: case kEsr: case kLvtCmciRegister:
    case kInitialCount: case kCurrentCount: case kDivideConfig:
      return true;
    default:
      return (offset >= kIsr && offset < kIrr + 0x80) || (offset >= kLvtTimerRegister && offset <= kLvtErrorRegister);
  }
}

bool x2apic_writable(uint32_t offset) {
  switch (offset) {
    case kTpr: case kSvr: case kEsr: case kLvtCmciRegister: case kInitialCount: case kDivideConfig: case kEoi:
      return true;
    default:
      return offset >= kLvtTimerRegister && offset <= kLvtErrorRegister;
  }
}

}  // namespace

std::optional<uint64_t> Lapic::read_msr(uint32_t index) const {
  if (index == kApicBaseMsr) return apic_base_;
  if (index == kTscDeadlineMsr) {
    if (tsc_.khz == 0) return std::nullopt;
    // It reads 0 once it has fired (SDM 11.5.4.1), even where expire_timer
    // has not run yet (a deadline nobody woke for: timer_expiry_changes_nothing).
    return timer_mode() == kTimerTscDeadline && timer_due(clock_()) ? 0 : tsc_deadline_;
  }
  if (!x2apic_ || index < kX2apicMsrFirst || index >= kX2apicMsrFirst + kX2apicMsrCount) return std::nullopt;
  const uint32_t offset = x2apic_offset(index);
  if (index == kX2apicIcr) return (uint64_t{icr_high_} << 32) | icr_low_;
  if (offset == kId) return id_;  // the full 32-bit x2APIC ID
  if (offset == kLdr) return x2apic_logical_id();
  if (!x2apic_readable(offset)) return std::nullopt;
  return read_register(offset);
}

bool Lapic::write_msr(uint32_t index, uint64_t value) {
  if (index == kApicBaseMsr) return write_apic_base(value);
  if (index == kTscDeadlineMsr) return write_tsc_deadline(value);
  if (!x2apic_ || index < kX2apicMsrFirst || index >= kX2apicMsrFirst + kX2apicMsrCount) return false;
  if (index == kX2apicIcr) {
    // One 64-bit write: destination in bits 63:32 (SDM 11.12.9).
    icr_high_ = static_cast<uint32_t>(value >> 32);
    icr_low_ = static_cast<uint32_t>(value) & 0x000ccfff;
    send_ipi(icr_low_, icr_high_);
    return true;
  }
  if (index == kX2apicSelfIpi) {
    // SELF IPI: a fixed, edge IPI to this APIC with vector value[7:0] (SDM 11.12.11).
    if ((value >> 8) != 0) return false;
    send_ipi(static_cast<uint32_t>(value & 0xff) | (1u << 18), 0);
    return true;
  }
  const uint32_t offset = x2apic_offset(index);
  if (!x2apic_writable(offset) || (value >> 32) != 0) return false;
  if (offset == kEoi && value != 0) return false;  // a non-zero EOI write faults in x2APIC mode
  if (offset == kEsr && value != 0) return false;
  write_register(offset, static_cast<uint32_t>(value));
  return true;
}

bool Lapic::write_apic_base(uint64_t value) {
  // Reserved bits and the transitions Table 11-5 forbids fault. The base
  // may move (SDM 11.4.5); VcpuRunner refuses a base inside guest RAM.
  const uint64_t writable = kApicBaseAddressMask | kApicBaseEnable | kApicBaseX2apic | kApicBaseBsp;
  if ((value & ~writable) != 0) return false;
  const bool enable = value & kApicBaseEnable, extended = value & kApicBaseX2apic;
  if (extended && !enable) return false;                      // x2APIC without the APIC
  if (x2apic_ && enable && !extended) return false;           // x2APIC -> xAPIC directly
  if (!hardware_enabled() && enable && extended) return false; // disabled -> x2APIC directly
  const bool disabling = !enable && hardware_enabled();
  const bool enabling = enable && !hardware_enabled();
  const bool entering_x2apic = extended && !x2apic_;
  apic_base_ = (value & ~kApicBaseBsp) | (apic_base_ & kApicBaseBsp);  // the BSP flag is read-only
  x2apic_ = extended;
  // A globally disabled APIC comes back in its power-up state (SDM 11.4.3;
  // for the boot CPU, the virtual-wire LINT0/LINT1 of reset()),
  // its xAPIC ID the initial one again; x2APIC mode always reads the
  // initial APIC ID, whatever software wrote to the xAPIC ID (SDM 11.12.5.1).
  if (disabling) reset();
  if (enabling || entering_x2apic) id_ = initial_id_;
  publish();
  return true;
}

bool Lapic::write_tsc_deadline(uint64_t deadline) {
  if (tsc_.khz == 0) return false;
  // Writes count only in TSC-deadline mode; 0 disarms (SDM 11.5.4.1).
  if (timer_mode() != kTimerTscDeadline) return true;
  tsc_deadline_ = deadline;
  if (deadline == 0) {
    timer_deadline_.reset();
    return true;
  }
  const uint64_t now_tsc = tsc_.now();
  const uint64_t now = clock_();
  const uint64_t ahead = deadline > now_tsc ? deadline - now_tsc : 0;
  // Cycles to nanoseconds at khz, in 128 bits so no deadline is cut short;
  // capped at 2^62 ns (146 years, as good as never) so the sum cannot wrap.
  const auto ns = static_cast<unsigned __int128>(ahead) * 1'000'000 / tsc_.khz;
  timer_deadline_ = now + static_cast<uint64_t>(std::min<unsigned __int128>(ns, uint64_t{1} << 62));
  return true;
}

}  // namespace ember

namespace ember {

// Timer deadlines are on the machine's clock, which a restored machine
// continues from where the snapshot left it; the TSC deadline is in guest
// TSC ticks, which KVM restores with the VCPU's MSRs.
void Lapic::save(snapshot::SectionWriter& out) {
  out.u32(initial_id_).u64(apic_base_).boolean(x2apic_).u64(tsc_deadline_);
  for (const auto* bits : {&irr_, &isr_, &tmr_}) {
    for (const uint64_t word : *bits) out.u64(word);
  }
  for (const uint32_t lvt : lvt_) out.u32(lvt);
  out.u32(id_).u32(tpr_).u32(ldr_).u32(dfr_).u32(svr_).u32(esr_).u32(pending_esr_).u32(icr_low_).u32(icr_high_);
  out.u32(initial_count_).u32(divide_config_).boolean(timer_deadline_.has_value()).u64(timer_deadline_.value_or(0));
}

Result<void> Lapic::restore(snapshot::SectionReader& in) {
  const uint32_t initial_id = in.u32();
  const uint64_t apic_base = in.u64();
  const bool x2apic = in.boolean();
  const uint64_t tsc_deadline = in.u64();
  std::array<std::array<uint64_t, 4>, 3> bits{};
  for (auto& words : bits) {
    for (uint64_t& word : words) word = in.u64();
  }
  std::array<uint32_t, kLvtCount> lvt{};
  for (uint32_t& entry : lvt) entry = in.u32();
  const uint32_t id = in.u32(), tpr = in.u32(), ldr = in.u32(), dfr = in.u32(), svr = in.u32(), esr = in.u32(),
                 pending_esr = in.u32(), icr_low = in.u32(), icr_high = in.u32(), initial_count = in.u32(),
                 divide_config = in.u32();
  const bool timer_running = in.boolean();
  const uint64_t timer_deadline = in.u64();
  if (initial_id != initial_id_) in.refuse("belongs to the LAPIC with ID " + std::to_string(initial_id));
  const uint64_t writable = kApicBaseAddressMask | kApicBaseEnable | kApicBaseX2apic | kApicBaseBsp;
  if ((apic_base & ~writable) != 0 || (apic_base & kApicBaseBsp) != (apic_base_ & kApicBaseBsp) ||
      x2apic != ((apic_base & kApicBaseX2apic) != 0) || (x2apic && (apic_base & kApicBaseEnable) == 0)) {
    in.refuse("has an impossible APIC base " + std::to_string(apic_base));
  }
  if (x2apic && id != initial_id_) in.refuse("has an x2APIC ID other than its initial one");
  if (id > 0xff || tpr > 0xff || (svr & ~0x3ffu) != 0 || (divide_config & ~0xbu) != 0) {
    in.refuse("has register values no guest can write");
  }
  if (auto done = in.finish(); !done) return done;
  apic_base_ = apic_base, x2apic_ = x2apic, tsc_deadline_ = tsc_deadline;
  irr_ = bits[0], isr_ = bits[1], tmr_ = bits[2];
  lvt_ = lvt;
  id_ = id, tpr_ = tpr, ldr_ = ldr, dfr_ = dfr, svr_ = svr, esr_ = esr, pending_esr_ = pending_esr;
  icr_low_ = icr_low, icr_high_ = icr_high, initial_count_ = initial_count, divide_config_ = divide_config;
  timer_deadline_.reset();
  if (timer_running) timer_deadline_ = timer_deadline;
  publish();
  return {};
}

}  // namespace ember
