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
//
// The page's layout is spelled out here rather than taken from <linux/kvm.h>:
// its struct kvm_coalesced_mmio_ring declares the entries with
// __DECLARE_FLEX_ARRAY, whose empty member is one byte in C++ and none in C,
// which moves the array 8 bytes in a C++ build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "bus/bus.h"

namespace ember::kvm {

class CoalescedPio final {
 public:
  // The ring page as KVM writes it (include/uapi/linux/kvm.h, C layout).
  struct Entry {
    uint64_t address;  // the port, for port I/O
    uint32_t length;
    uint32_t pio;      // 1: port I/O, 0: MMIO
    uint8_t  data[8];
  };
  struct Ring {
    uint32_t first;  // userspace's: the next entry to replay
    uint32_t last;   // KVM's: one past the newest entry
    Entry    entries[1];  // kEntries of them, to the end of the page
  };
  static_assert(sizeof(Entry) == 24 && offsetof(Ring, entries) == 8);
  static constexpr uint32_t kEntries = (4096 - offsetof(Ring, entries)) / sizeof(Entry);

  // Replays every write in `ring` (any VCPU's view of it) on `pio`.
  void replay(Ring& ring, const Bus& pio, uint32_t vcpu);

 private:
  std::mutex mutex_;  // one replayer at a time
};

}  // namespace ember::kvm
