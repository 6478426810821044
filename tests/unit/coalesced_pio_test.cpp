#include "kvm/coalesced_pio.h"

#include <gtest/gtest.h>

#include <array>
#include <vector>

namespace ember::kvm {
namespace {

// Every write it sees, in order.
class WriteLog final : public Device {
 public:
  std::string_view name() const override { return "write-log"; }
  void read(const Access&, std::span<uint8_t>) override {}
  void write(const Access& access, std::span<const uint8_t> data) override { writes.push_back({access.address, data[0]}); }
  std::vector<std::pair<uint64_t, uint8_t>> writes;
};

struct CoalescedPioTest : ::testing::Test {
  void SetUp() override { ASSERT_TRUE(bus.insert(0x70, 2, device).ok()); }
  // What KVM does for a coalesced write (virt/kvm/coalesced_mmio.c).
  void kvm_appends(uint16_t port, uint8_t value, uint32_t pio = 1) {
    CoalescedPio::Entry& entry = ring().entries[ring().last];
    entry.address = port;
    entry.length = 1;
    entry.pio = pio;
    entry.data[0] = value;
    ring().last = (ring().last + 1) % CoalescedPio::kEntries;
  }
  CoalescedPio::Ring& ring() { return *reinterpret_cast<CoalescedPio::Ring*>(page.data()); }

  alignas(8) std::array<uint8_t, 4096> page{};
  WriteLog     device;
  Bus          bus{"port I/O"};
  CoalescedPio coalesced;
};

// The layout KVM writes, which <linux/kvm.h> gives differently in C++.
TEST(CoalescedPioLayout, MatchesTheKernelsCLayout) {
  EXPECT_EQ(offsetof(CoalescedPio::Ring, entries), 8u);
  EXPECT_EQ(sizeof(CoalescedPio::Entry), 24u);
  EXPECT_EQ(CoalescedPio::kEntries, (4096u - 8) / 24) << "KVM_COALESCED_MMIO_MAX";
}

TEST_F(CoalescedPioTest, WritesAreReplayedOnceInOrder) {
  kvm_appends(0x70, 0x0a);
  kvm_appends(0x70, 0x8b);
  coalesced.replay(ring(), bus, 0);
  ASSERT_EQ(device.writes.size(), 2u);
  EXPECT_EQ(device.writes[0], (std::pair<uint64_t, uint8_t>{0x70, 0x0a}));
  EXPECT_EQ(device.writes[1], (std::pair<uint64_t, uint8_t>{0x70, 0x8b}));
  EXPECT_EQ(ring().first, ring().last) << "every slot handed back";
  coalesced.replay(ring(), bus, 0);
  EXPECT_EQ(device.writes.size(), 2u) << "nothing is replayed twice";
}

TEST_F(CoalescedPioTest, TheRingWrapsAround) {
  ring().first = ring().last = CoalescedPio::kEntries - 1;
  kvm_appends(0x70, 1);
  kvm_appends(0x70, 2);
  EXPECT_EQ(ring().last, 1u);
  coalesced.replay(ring(), bus, 0);
  ASSERT_EQ(device.writes.size(), 2u);
  EXPECT_EQ(device.writes[1].second, 2);
}

TEST_F(CoalescedPioTest, MmioEntriesAndIndicesOutOfRangeAreNotReplayed) {
  kvm_appends(0x70, 1, /*pio=*/0);
  coalesced.replay(ring(), bus, 0);
  EXPECT_TRUE(device.writes.empty()) << "ember coalesces no MMIO";
  ring().last = CoalescedPio::kEntries + 5;
  coalesced.replay(ring(), bus, 0);
  EXPECT_TRUE(device.writes.empty());
}

}  // namespace
}  // namespace ember::kvm
