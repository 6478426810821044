// The descriptor-chain walker against every guest-controlled case in
// tests/HOSTILE-INPUTS.md (the descriptor and ring items), and the used ring and
// notification rules of virtio 1.2 §2.7.
#include "virtio/split_virtqueue.h"

#include <gtest/gtest.h>

#include "memory/memory_map.h"
#include "unit/virtio_fake_driver.h"

namespace ember::virtio {
namespace {

using testing::FakeDriver;
using testing::kIndirect;
using testing::kNext;
using testing::kWrite;

constexpr uint64_t kRam = 16 << 20;
constexpr uint64_t kBuffer = 0x100000;

class SplitVirtqueueTest : public ::testing::Test {
 protected:
  SplitVirtqueue queue(QueueFeatures features = {}) { return queue_on(driver_, features); }
  SplitVirtqueue queue_on(const FakeDriver& driver, QueueFeatures features = {}) {
    return std::move(SplitVirtqueue::create(memory_, driver.layout(), features).value());
  }
  // Pops and expects the walker to refuse the chain for `why`.
  void expect_refused(SplitVirtqueue& q, WalkerFault why) {
    auto popped = q.pop();
    ASSERT_FALSE(popped.ok()) << "the chain was accepted";
    EXPECT_EQ(popped.error().code, why) << popped.error().message;
    auto again = q.pop();
    ASSERT_FALSE(again.ok()) << "a broken queue must stay broken until reset";
    EXPECT_EQ(again.error().code, WalkerFault::kBrokenEarlier);
  }

  GuestMemory memory_ = std::move(GuestMemory::create(ram_regions_for(kRam)).value());
  FakeDriver  driver_{memory_, 8};
};

TEST_F(SplitVirtqueueTest, EmptyRingYieldsNothing) {
  auto q = queue();
  auto popped = q.pop();
  ASSERT_TRUE(popped.ok());
  EXPECT_FALSE(popped->has_value());
}

TEST_F(SplitVirtqueueTest, ChainGivesReadableThenWritableBuffersAsHostViews) {
  driver_.set_descriptor(3, kBuffer, 16, kNext, 5);
  driver_.set_descriptor(5, kBuffer + 0x1000, 512, kWrite | kNext, 1);
  driver_.set_descriptor(1, kBuffer + 0x2000, 1, kWrite);
  driver_.make_available(3);
  ASSERT_TRUE(memory_.write_object<uint64_t>(kBuffer, 0x1122334455667788));
  auto q = queue();
  auto popped = q.pop();
  ASSERT_TRUE(popped.ok()) << popped.error().message;
  ASSERT_TRUE(popped->has_value());
  const DescriptorChain& chain = **popped;
  EXPECT_EQ(chain.head, 3);
  ASSERT_EQ(chain.readable_buffers(), 1u);
  ASSERT_EQ(chain.writable_buffers(), 2u);
  EXPECT_EQ(chain.readable_bytes(), 16u);
  EXPECT_EQ(chain.writable_bytes(), 513u);
  ChainReader reader{chain};
  EXPECT_EQ(reader.read_object<uint64_t>(), 0x1122334455667788u);
  ChainWriter writer{chain};
  std::vector<uint8_t> fill(513, 0xab);
  ASSERT_TRUE(writer.write(fill));
  EXPECT_EQ(memory_.read_object<uint8_t>(kBuffer + 0x2000), 0xab);
  EXPECT_FALSE(writer.write(fill)) << "a writer must not run past the chain";
}

TEST_F(SplitVirtqueueTest, UsedRingGetsHeadAndLengthThenIndex) {
  driver_.set_descriptor(2, kBuffer, 8, kWrite);
  driver_.make_available(2);
  auto q = queue();
  ASSERT_TRUE(q.pop().ok());
  q.push(2, 8);
  EXPECT_EQ(driver_.used_index(), 1);
  EXPECT_EQ(driver_.used_id(0), 2u);
  EXPECT_EQ(driver_.used_length(0), 8u);
}

TEST_F(SplitVirtqueueTest, ChainsPushedTogetherArePublishedByOneIndexUpdate) {
  for (const uint16_t head : std::initializer_list<uint16_t>{4, 6}) {
    driver_.set_descriptor(head, kBuffer + 0x1000ull * head, 64, kWrite);
    driver_.make_available(head);
  }
  auto q = queue();
  ASSERT_TRUE(q.pop().ok());
  ASSERT_TRUE(q.pop().ok());
  const UsedElement used[] = {{4, 10}, {6, 20}};
  q.push(used);
  EXPECT_EQ(driver_.used_index(), 2);
  EXPECT_EQ(driver_.used_id(0), 4u);
  EXPECT_EQ(driver_.used_length(0), 10u);
  EXPECT_EQ(driver_.used_id(1), 6u);
  EXPECT_EQ(driver_.used_length(1), 20u);
}

TEST_F(SplitVirtqueueTest, ChainsGivenBackArePoppedAgainInOrder) {
  for (const uint16_t head : std::initializer_list<uint16_t>{1, 2, 3}) {
    driver_.set_descriptor(head, kBuffer + 0x1000ull * head, 64, kWrite);
    driver_.make_available(head);
  }
  auto q = queue();
  EXPECT_EQ((*q.pop())->head, 1);
  EXPECT_EQ((*q.pop())->head, 2);
  q.give_back(1);
  EXPECT_EQ((*q.pop())->head, 2);
  EXPECT_EQ((*q.pop())->head, 3);
  q.give_back(2);
  EXPECT_EQ((*q.pop())->head, 2);
  EXPECT_EQ((*q.pop())->head, 3);
  EXPECT_FALSE(q.pop()->has_value());
  EXPECT_EQ(driver_.used_index(), 0);  // giving back uses nothing
}

TEST_F(SplitVirtqueueTest, HeadIndexAtQueueSizeIsRefused) {
  driver_.make_available(8);
  auto q = queue();
  expect_refused(q, WalkerFault::kIndexOutsideQueue);
}

TEST_F(SplitVirtqueueTest, NextIndexAtQueueSizeIsRefused) {
  driver_.set_descriptor(0, kBuffer, 8, kNext, 8);
  driver_.make_available(0);
  auto q = queue();
  expect_refused(q, WalkerFault::kIndexOutsideQueue);
}

TEST_F(SplitVirtqueueTest, SelfLoopIsRefused) {
  driver_.set_descriptor(4, kBuffer, 8, kNext, 4);
  driver_.make_available(4);
  auto q = queue();
  expect_refused(q, WalkerFault::kChainLoop);
}

TEST_F(SplitVirtqueueTest, CycleThroughSeveralDescriptorsIsRefused) {
  for (uint16_t i = 0; i < 8; ++i) driver_.set_descriptor(i, kBuffer, 8, kNext, static_cast<uint16_t>((i + 1) % 8));
  driver_.make_available(0);
  auto q = queue();
  expect_refused(q, WalkerFault::kChainLoop);
}

TEST_F(SplitVirtqueueTest, ChainUsingEveryDescriptorOnceIsAccepted) {
  for (uint16_t i = 0; i < 7; ++i) driver_.set_descriptor(i, kBuffer, 8, kNext, static_cast<uint16_t>(i + 1));
  driver_.set_descriptor(7, kBuffer, 8, 0);
  driver_.make_available(0);
  auto q = queue();
  auto popped = q.pop();
  ASSERT_TRUE(popped.ok()) << popped.error().message;
  EXPECT_EQ((*popped)->readable_bytes(), 64u);
}

TEST_F(SplitVirtqueueTest, UnknownFlagsAreRefused) {
  driver_.set_descriptor(0, kBuffer, 8, 0x10);
  driver_.make_available(0);
  auto q = queue();
  expect_refused(q, WalkerFault::kUnknownFlags);
}

TEST_F(SplitVirtqueueTest, IndirectDescriptorWithoutTheFeatureIsRefused) {
  driver_.set_descriptor(0, kBuffer, 32, kIndirect);
  driver_.make_available(0);
  auto q = queue();
  expect_refused(q, WalkerFault::kIndirectNotNegotiated);
}

TEST_F(SplitVirtqueueTest, IndirectTableIsWalkedWhenNegotiated) {
  const uint64_t table = kBuffer + 0x8000;
  driver_.set_descriptor(0, kBuffer, 16, kNext, 1, table);
  driver_.set_descriptor(1, kBuffer + 0x100, 1, kWrite, 0, table);
  driver_.set_descriptor(6, table, 32, kIndirect);
  driver_.make_available(6);
  auto q = queue({.indirect_descriptors = true});
  auto popped = q.pop();
  ASSERT_TRUE(popped.ok()) << popped.error().message;
  EXPECT_EQ((*popped)->head, 6);
  EXPECT_EQ((*popped)->readable_bytes(), 16u);
  EXPECT_EQ((*popped)->writable_bytes(), 1u);
}

TEST_F(SplitVirtqueueTest, MalformedIndirectTablesAreRefused) {
  const uint64_t table = kBuffer + 0x8000;
  struct Case {
    const char* what;
    uint32_t    table_bytes;
    uint16_t    flags;
    uint16_t    inner_flags;
    uint16_t    inner_next;
    WalkerFault why;
  } cases[] = {
      {"not a multiple of 16", 24, kIndirect, 0, 0, WalkerFault::kIndirectTableSize},
      {"empty", 0, kIndirect, 0, 0, WalkerFault::kIndirectTableSize},
      {"indirect with NEXT", 32, kIndirect | kNext, 0, 0, WalkerFault::kIndirectNotAlone},
      {"nested indirect", 32, kIndirect, kIndirect, 0, WalkerFault::kUnknownFlags},
      {"loop inside the table", 32, kIndirect, kNext, 0, WalkerFault::kChainLoop},
      {"next outside the table", 32, kIndirect, kNext, 2, WalkerFault::kIndexOutsideQueue},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    FakeDriver driver{memory_, 8, 0x200000};
    driver.set_descriptor(0, c.inner_flags & kIndirect ? table : kBuffer, 16, c.inner_flags, c.inner_next, table);
    driver.set_descriptor(1, kBuffer, 16, 0, 0, table);
    driver.set_descriptor(0, table, c.table_bytes, c.flags, 1);
    driver.make_available(0);
    auto q = queue_on(driver, {.indirect_descriptors = true});
    expect_refused(q, c.why);
  }
}

TEST_F(SplitVirtqueueTest, AvailableIndexJumpingPastQueueSizeIsRefused) {
  driver_.set_descriptor(0, kBuffer, 8, 0);
  driver_.set_available_index(9);
  auto q = queue();
  expect_refused(q, WalkerFault::kAvailableIndexJump);
}

TEST_F(SplitVirtqueueTest, AvailableIndexWrapsAround65536) {
  driver_.set_descriptor(0, kBuffer, 8, 0);
  auto q = queue();
  // Serve 65540 requests one at a time: the 16-bit indices wrap.
  for (uint32_t i = 0; i < 65540; ++i) {
    driver_.make_available(0);
    auto popped = q.pop();
    ASSERT_TRUE(popped.ok() && popped->has_value()) << "request " << i;
    q.push(0, 0);
  }
  EXPECT_EQ(driver_.used_index(), static_cast<uint16_t>(65540));
}

TEST_F(SplitVirtqueueTest, BuffersOutsideRamAreRefused) {
  struct Case {
    const char* what;
    uint64_t    address;
    uint32_t    length;
  } cases[] = {
      {"past the end of RAM", kRam - 4, 8},
      {"wholly above RAM", kRam + 0x1000, 8},
      {"wrapping 2^64", ~0ull - 3, 16},
      {"length 0xFFFFFFFF", kBuffer, 0xffffffff},
      {"in the MMIO hole", 0xfec00000, 4},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    FakeDriver driver{memory_, 8, 0x200000};
    driver.set_descriptor(0, c.address, c.length, 0);
    driver.make_available(0);
    auto q = queue_on(driver);
    expect_refused(q, WalkerFault::kBufferOutsideMemory);
  }
}

TEST(SplitVirtqueueLargeRam, BufferStraddlingTheMmioHoleIsRefused) {
  const auto memory = std::move(GuestMemory::create(ram_regions_for(kMmioHoleStart + (64 << 20))).value());
  FakeDriver driver{memory, 8};
  driver.set_descriptor(0, kMmioHoleStart - 8, 16, 0);
  driver.make_available(0);
  auto q = std::move(SplitVirtqueue::create(memory, driver.layout(), {}).value());
  auto popped = q.pop();
  ASSERT_FALSE(popped.ok());
  EXPECT_EQ(popped.error().code, WalkerFault::kBufferOutsideMemory) << popped.error().message;
}

TEST(SplitVirtqueueLargeRam, ChainTotallingOver4GiBIsRefused) {
  // Two 2.5 GiB buffers, each inside RAM (they may overlap): only their sum is wrong.
  const auto memory = std::move(GuestMemory::create(ram_regions_for(kMmioHoleStart)).value());
  FakeDriver driver{memory, 8};
  driver.set_descriptor(0, 0x1000000, 0xa0000000, kNext, 1);
  driver.set_descriptor(1, 0x1000000, 0xa0000000, 0);
  driver.make_available(0);
  auto q = std::move(SplitVirtqueue::create(memory, driver.layout(), {}).value());
  auto popped = q.pop();
  ASSERT_FALSE(popped.ok());
  EXPECT_EQ(popped.error().code, WalkerFault::kChainTooLarge) << popped.error().message;
}

TEST_F(SplitVirtqueueTest, ZeroLengthBuffersAreAcceptedAndCarryNothing) {
  driver_.set_descriptor(0, ~0ull, 0, kNext, 1);  // address irrelevant: no byte is touched
  driver_.set_descriptor(1, kBuffer, 4, kWrite);
  driver_.make_available(0);
  auto q = queue();
  auto popped = q.pop();
  ASSERT_TRUE(popped.ok()) << popped.error().message;
  EXPECT_EQ((*popped)->readable_buffers(), 0u);
  EXPECT_EQ((*popped)->writable_bytes(), 4u);
}

TEST_F(SplitVirtqueueTest, ReadableBufferAfterWritableIsRefused) {
  driver_.set_descriptor(0, kBuffer, 8, kWrite | kNext, 1);
  driver_.set_descriptor(1, kBuffer, 8, 0);
  driver_.make_available(0);
  auto q = queue();
  expect_refused(q, WalkerFault::kReadableAfterWritable);
}

TEST_F(SplitVirtqueueTest, LayoutIsCheckedWhenTheQueueIsCreated) {
  struct Case {
    const char* what;
    QueueLayout layout;
    WalkerFault why;
  } cases[] = {
      {"size 0", {0, 0x10000, 0x20000, 0x30000}, WalkerFault::kQueueSize},
      {"size not a power of two", {12, 0x10000, 0x20000, 0x30000}, WalkerFault::kQueueSize},
      {"descriptor table misaligned", {8, 0x10008, 0x20000, 0x30000}, WalkerFault::kRingMisaligned},
      {"available ring misaligned", {8, 0x10000, 0x20001, 0x30000}, WalkerFault::kRingMisaligned},
      {"used ring misaligned", {8, 0x10000, 0x20000, 0x30002}, WalkerFault::kRingMisaligned},
      {"descriptor table outside RAM", {8, kRam - 64, 0x20000, 0x30000}, WalkerFault::kRingOutsideMemory},
      {"used ring in the MMIO hole", {8, 0x10000, 0x20000, 0xfec00000}, WalkerFault::kRingOutsideMemory},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto created = SplitVirtqueue::create(memory_, c.layout, {});
    ASSERT_FALSE(created.ok());
    EXPECT_EQ(created.error().code, c.why) << created.error().message;
  }
  // Above the maximum: 65536 does not fit the 16-bit register, 32768 is the
  // largest size there is.
  EXPECT_TRUE(SplitVirtqueue::create(memory_, {32768, 0x100000, 0x200000, 0x300000}, {}).ok());
}

TEST_F(SplitVirtqueueTest, NoInterruptFlagSuppressesInterruptsWithoutEventIndex) {
  driver_.set_descriptor(0, kBuffer, 8, 0);
  auto q = queue();
  driver_.make_available(0);
  ASSERT_TRUE(q.pop().ok());
  q.push(0, 0);
  EXPECT_TRUE(q.needs_interrupt());
  EXPECT_FALSE(q.needs_interrupt()) << "nothing new was used";
  driver_.set_available_flags(1);
  driver_.make_available(0);
  ASSERT_TRUE(q.pop().ok());
  q.push(0, 0);
  EXPECT_FALSE(q.needs_interrupt());
}

TEST_F(SplitVirtqueueTest, EventIndexInterruptsOnlyWhenUsedEventIsCrossed) {
  driver_.set_descriptor(0, kBuffer, 8, 0);
  auto q = queue({.event_index = true});
  driver_.set_used_event(1);  // the driver wants an interrupt once entry 1 is used
  for (int i = 0; i < 3; ++i) driver_.make_available(0);
  ASSERT_TRUE(q.pop().ok());
  q.push(0, 0);
  EXPECT_FALSE(q.needs_interrupt()) << "used idx 1 has not passed used_event 1";
  ASSERT_TRUE(q.pop().ok());
  q.push(0, 0);
  EXPECT_TRUE(q.needs_interrupt()) << "entry 1 is now used";
  ASSERT_TRUE(q.pop().ok());
  q.push(0, 0);
  EXPECT_FALSE(q.needs_interrupt()) << "used_event was already passed";
}

TEST_F(SplitVirtqueueTest, RearmPublishesAvailEventAndSeesLateArrivals) {
  driver_.set_descriptor(0, kBuffer, 8, 0);
  auto q = queue({.event_index = true});
  driver_.make_available(0);
  ASSERT_TRUE(q.pop().ok());
  EXPECT_FALSE(q.rearm_notification());
  EXPECT_EQ(driver_.avail_event(), 1);
  driver_.make_available(0);
  EXPECT_TRUE(q.rearm_notification()) << "a request made available meanwhile must not wait for a notify";
}

}  // namespace
}  // namespace ember::virtio
