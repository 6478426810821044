#include "kvm/coalesced_pio.h"

#include <atomic>
#include <span>

namespace ember::kvm {

void CoalescedPio::replay(Ring& ring, const Bus& pio, uint32_t vcpu) {
  // Most exits find the ring empty: no lock for them.
  if (std::atomic_ref{ring.first}.load(std::memory_order_acquire) == std::atomic_ref{ring.last}.load(std::memory_order_acquire)) {
    return;
  }
  const std::lock_guard lock{mutex_};
  // KVM writes an entry, then publishes it by advancing `last`; userspace
  // consumes from `first` and hands the slot back by advancing it
  // (virt/kvm/coalesced_mmio.c).
  const uint32_t last = std::atomic_ref{ring.last}.load(std::memory_order_acquire);
  uint32_t first = std::atomic_ref{ring.first}.load(std::memory_order_relaxed);
  if (last >= kEntries || first >= kEntries) return;  // never from a working KVM; nothing sane to replay
  while (first != last) {
    const Entry& entry = ring.entries[first];
    if (entry.pio != 0 && entry.length >= 1 && entry.length <= sizeof entry.data) {
      pio.write(entry.address, std::span<const uint8_t>{entry.data, entry.length}, vcpu);
    }
    first = (first + 1) % kEntries;
    std::atomic_ref{ring.first}.store(first, std::memory_order_release);
  }
}

}  // namespace ember::kvm
