// KVM's coalesced port I/O (api.rst, KVM_(UN)REGISTER_COALESCED_MMIO with
// `pio` set, KVM_CAP_COALESCED_PIO): guest writes to a registered port do
// not exit; KVM appends them to a ring page that every VCPU's kvm_run
// mapping shows at the page offset KVM_CAP_COALESCED_MMIO returns, and
// userspace replays them in order before it handles the next exit.
//
// ember registers only the CMOS RTC's index port 0x70: its writes select a
// register and do nothing else, and every read of the data port 0x71 that
// follows is an exit, which replays the ring first. So an RTC register
// read costs one exit instead of two (as QEMU does for the same port).
//
// The ring is one per VM; VCPU threads replay it under one mutex, so a
// write is applied exactly once and in the order the guest made it.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <mutex>

#include "bus/bus.h"

namespace ember::kvm {

class CoalescedPio final {
 public:
  // Replays every write in `ring` (any VCPU's view of it) on `pio`.
  void replay(kvm_coalesced_mmio_ring& ring, const Bus& pio, uint32_t vcpu);

  // The ring's capacity in entries: what fits in the page after its header.
  static constexpr uint32_t kEntries =
      static_cast<uint32_t>((4096 - sizeof(kvm_coalesced_mmio_ring)) / sizeof(kvm_coalesced_mmio));

 private:
  std::mutex mutex_;  // one replayer at a time
};

}  // namespace ember::kvm
