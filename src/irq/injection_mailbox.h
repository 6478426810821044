// The per-VCPU injection mailbox (ARCHITECTURE.md, "The one rule"): any thread posts interrupts
// without locks, allocation or waiting; only the owning VCPU thread drains.
//
// It mirrors Intel's posted-interrupt descriptor (SDM Vol. 3C 29.6): 256
// pending-vector bits, a second bitmap saying which of them are
// level-triggered (so their EOI reaches the IOAPIC), flags for INIT and SIPI,
// and an "outstanding notification" bit so that a burst of posts costs one
// kick. Posting a vector that is already pending coalesces, as on hardware.
// NMIs are counted, not flagged: two that arrive together are two, and the
// CPU latches one while it services the other (SDM Vol. 3A 6.7.1).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <optional>

namespace ember {

class InjectionMailbox final {
 public:
  struct Drained {
    std::array<uint64_t, 4> vectors{};  // bit v of word v/64: vector v is pending
    std::array<uint64_t, 4> level{};    // subset of `vectors` that is level-triggered
    uint32_t                nmis = 0;  // NMIs posted since the last drain
    bool                    init = false;
    std::optional<uint8_t>  sipi;       // start-up vector, if a SIPI arrived
    uint32_t                wake_events = 0;  // NMI/INIT/SIPI posts drained, coalesced ones included
    bool empty() const { return nmis == 0 && !init && !sipi && (vectors[0] | vectors[1] | vectors[2] | vectors[3]) == 0; }
  };

  // Each post returns true when the caller must kick the VCPU: no kick is
  // outstanding yet. A false return means a kick is already on its way and
  // the VCPU will see this post when it drains.
  bool post_vector(uint8_t vector, bool level_triggered) {
    const unsigned word = vector / 64;
    const uint64_t bit = uint64_t{1} << (vector % 64);
    // The level bit first: the drain that sees the vector bit (acquire) then
    // sees the level bit too.
    if (level_triggered) level_[word].fetch_or(bit, std::memory_order_release);
    pending_[word].fetch_or(bit, std::memory_order_release);
    return notify();
  }
  bool post_nmi() {
    nmis_.fetch_add(1, std::memory_order_release);
    return count_wake_event();
  }
  bool post_init() { return post_flag(kInit); }
  bool post_sipi(uint8_t vector) {
    sipi_vector_.store(vector, std::memory_order_relaxed);
    return post_flag(kSipi);
  }

  // VCPU thread only. Clears the outstanding bit first, so a post that races
  // with the drain either lands in this drain or kicks again: never lost.
  Drained drain() {
    outstanding_.store(false, std::memory_order_seq_cst);
    Drained drained;
    for (unsigned i = 0; i < 4; ++i) {
      const uint64_t pending = pending_[i].exchange(0, std::memory_order_acq_rel);
      drained.vectors[i] = pending;
      // Take only the level bits of vectors drained now; a level bit posted
      // after the exchange belongs to the next drain.
      if (pending != 0) drained.level[i] = level_[i].fetch_and(~pending, std::memory_order_acq_rel) & pending;
    }
    // The count before the flags: a post racing with this drain can then only
    // leave its count for the next drain (the census stays conservative),
    // never count an event whose flag is still waiting.
    drained.wake_events = wake_events_.exchange(0, std::memory_order_acq_rel);
    drained.nmis = nmis_.exchange(0, std::memory_order_acq_rel);
    const uint32_t flags = flags_.exchange(0, std::memory_order_acq_rel);
    drained.init = flags & kInit;
    if (flags & kSipi) drained.sipi = static_cast<uint8_t>(sipi_vector_.load(std::memory_order_relaxed));
    return drained;
  }

 private:
  static constexpr uint32_t kInit = 2, kSipi = 4;

  bool post_flag(uint32_t flag) {
    flags_.fetch_or(flag, std::memory_order_release);
    return count_wake_event();
  }
  // After the event itself: a drain that takes this count (acquire) then
  // also sees the event, so the census never counts as handled an event
  // still waiting in the mailbox.
  bool count_wake_event() {
    wake_events_.fetch_add(1, std::memory_order_release);
    return notify();
  }
  bool notify() { return !outstanding_.exchange(true, std::memory_order_seq_cst); }

  std::array<std::atomic<uint64_t>, 4> pending_{};
  std::array<std::atomic<uint64_t>, 4> level_{};
  std::atomic<uint32_t>                flags_{0};
  std::atomic<uint32_t>                nmis_{0};
  std::atomic<uint32_t>                sipi_vector_{0};
  std::atomic<uint32_t>                wake_events_{0};
  std::atomic<bool>                    outstanding_{false};
};

}  // namespace ember
