#include "irq/pv_eoi.h"

namespace ember {
namespace {

constexpr uint8_t kEoiPending = 1;  // KVM_PV_EOI_ENABLED: bit 0 of the guest's word

}  // namespace

bool PvEoi::write_msr(uint64_t value) {
  const uint64_t word = value & ~uint64_t{1};
  // KVM refuses a misaligned word, and an enabled one outside guest
  // memory (msr.rst).
  if (word % 4 != 0 || ((value & 1) != 0 && !memory_.contains(word, 1))) return false;
  withdraw();  // an offer at the old word is void
  msr_ = value;
  return true;
}

bool PvEoi::guest_ended_interrupt() {
  if (!offered_) return false;
  const auto word = memory_.read_object<uint8_t>(address());
  if (word && (*word & kEoiPending) != 0) return false;
  offered_.reset();
  return true;
}

void PvEoi::offer(uint8_t vector) {
  if (!enabled() || offered_) return;
  if (memory_.write_object<uint8_t>(address(), kEoiPending)) offered_ = vector;
}

void PvEoi::withdraw() {
  if (!offered_) return;
  (void)memory_.write_object<uint8_t>(address(), 0);
  offered_.reset();
}

}  // namespace ember
