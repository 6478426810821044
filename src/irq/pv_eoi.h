// KVM's paravirtual end of interrupt (Documentation/virt/kvm/x86/msr.rst,
// MSR_KVM_PV_EOI_EN), done by ember's userspace LAPIC: when ember injects
// a vector whose EOI need not reach it at once, it sets bit 0 of a word the
// guest named with the MSR; the guest's EOI then clears that bit instead of
// writing the EOI register, which saves an exit per interrupt. ember ends
// the interrupt in its LAPIC the next time the VCPU stops (every exit),
// before it looks at the LAPIC for anything else. When a request waits
// behind the offered vector, the VCPU loop makes sure that stop comes by
// the interrupt window (VcpuRunner::review_pv_eoi_offer).
//
// KVM only does this with its in-kernel LAPIC, so ember traps the MSR
// (the VCPU loop sends its accesses here) and mirrors its value into KVM,
// where snapshots find it. Everything here runs on the VCPU's own thread,
// and only while the guest is stopped, so the guest never sees the word
// change under it.
#pragma once

#include <cstdint>
#include <optional>

#include "memory/guest_memory.h"

namespace ember {

class PvEoi final {
 public:
  static constexpr uint32_t kMsr = 0x4b564d04;  // MSR_KVM_PV_EOI_EN

  explicit PvEoi(const GuestMemory& memory) : memory_{memory} {}

  // The guest's MSR write: bit 0 enables, the rest is the word's address,
  // 4-byte aligned and inside guest RAM. false: refused (#GP, as KVM does).
  bool     write_msr(uint64_t value);
  uint64_t msr() const { return msr_; }

  // After the guest ran: whether it ended the interrupt ember offered
  // (cleared the bit). The caller then performs that EOI in the LAPIC.
  bool guest_ended_interrupt();
  // Before the guest runs, having just injected `vector`: lets the guest
  // end it without an exit, when PV EOI is on and nothing is offered yet.
  void offer(uint8_t vector);
  // The vector an outstanding offer was made for. KVM clears the bit at
  // every exit and sets it again only when safe; ember keeps an offer
  // while that vector is the one the next EOI ends, and takes it back
  // when it is not (ended through the register, or the LAPIC reset).
  std::optional<uint8_t> offered_vector() const { return offered_; }
  // Takes back an offer the guest has not used, so its EOI exits again:
  // it no longer ends that vector, or the guest turned interrupts on with
  // a request waiting behind it.
  void withdraw();
  // INIT: no offer, and PV EOI off, as KVM's LAPIC reset turns it off (the
  // caller clears KVM's copy). A CPU restarted by INIT may belong to
  // another kernel by now (kdump), whose memory the old word is.
  void reset() {
    withdraw();
    msr_ = 0;
  }

 private:
  uint64_t address() const { return msr_ & ~uint64_t{1}; }
  bool     enabled() const { return (msr_ & 1) != 0; }

  const GuestMemory& memory_;
  uint64_t           msr_ = 0;
  std::optional<uint8_t> offered_;  // the vector an outstanding offer is for
};

}  // namespace ember
