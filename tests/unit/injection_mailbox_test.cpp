#include "irq/injection_mailbox.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

namespace ember {
namespace {

bool is_set(const std::array<uint64_t, 4>& bits, unsigned vector) { return (bits[vector / 64] >> (vector % 64)) & 1; }

TEST(InjectionMailbox, FirstPostAsksForAKickLaterOnesCoalesce) {
  InjectionMailbox mailbox;
  EXPECT_TRUE(mailbox.post_vector(0x30, false));
  EXPECT_FALSE(mailbox.post_vector(0x31, false)) << "a kick is already outstanding";
  EXPECT_FALSE(mailbox.post_vector(0x30, false)) << "the same vector again coalesces";
  const auto drained = mailbox.drain();
  EXPECT_TRUE(is_set(drained.vectors, 0x30));
  EXPECT_TRUE(is_set(drained.vectors, 0x31));
  EXPECT_EQ(drained.vectors, (std::array<uint64_t, 4>{(1ull << 0x30) | (1ull << 0x31), 0, 0, 0})) << "nothing else";
  EXPECT_TRUE(mailbox.post_vector(0xff, false)) << "after a drain the next post kicks again";
  EXPECT_TRUE(is_set(mailbox.drain().vectors, 0xff));
}

TEST(InjectionMailbox, DrainEmptiesIt) {
  InjectionMailbox mailbox;
  mailbox.post_vector(0x40, true);
  mailbox.post_nmi();
  EXPECT_FALSE(mailbox.drain().empty());
  EXPECT_TRUE(mailbox.drain().empty());
}

TEST(InjectionMailbox, LevelBitsTravelWithTheirVectors) {
  InjectionMailbox mailbox;
  mailbox.post_vector(0x41, true);
  mailbox.post_vector(0x42, false);
  const auto drained = mailbox.drain();
  EXPECT_TRUE(is_set(drained.level, 0x41));
  EXPECT_FALSE(is_set(drained.level, 0x42));
  EXPECT_EQ(drained.level, (std::array<uint64_t, 4>{0, 1ull << (0x41 - 64), 0, 0})) << "only 0x41";
}

TEST(InjectionMailbox, InitAndSipiAreFlagsAndNmisAreCounted) {
  InjectionMailbox mailbox;
  EXPECT_TRUE(mailbox.post_init());
  EXPECT_FALSE(mailbox.post_sipi(0x9a));
  EXPECT_FALSE(mailbox.post_nmi());
  const auto drained = mailbox.drain();
  EXPECT_TRUE(drained.init);
  EXPECT_EQ(drained.nmis, 1u);
  ASSERT_TRUE(drained.sipi.has_value());
  EXPECT_EQ(*drained.sipi, 0x9a);
  EXPECT_FALSE(mailbox.drain().sipi.has_value());
}

// Two NMIs posted before one drain stay two: the CPU services one and
// latches the other (SDM Vol. 3A 6.7.1), so merging them loses an NMI.
TEST(InjectionMailbox, TwoNmisBeforeADrainAreTwo) {
  InjectionMailbox mailbox;
  EXPECT_TRUE(mailbox.post_nmi());
  EXPECT_FALSE(mailbox.post_nmi()) << "one kick covers both";
  const auto drained = mailbox.drain();
  EXPECT_EQ(drained.nmis, 2u);
  EXPECT_EQ(drained.wake_events, 2u);
  EXPECT_EQ(mailbox.drain().nmis, 0u);
}

// Many producers post while one consumer drains only when kicked, as a VCPU
// thread does. Every producer waits until the consumer has seen the vector it
// posted; a lost post or a lost kick leaves it waiting and fails the test at
// its deadline instead of hanging it.
TEST(InjectionMailboxStress, ManyProducersOneConsumerNothingLost) {
  constexpr unsigned kProducers = 8;
  constexpr unsigned kPostsEach = 3000;
  constexpr unsigned kVectorsEach = 28;  // 8 x 28 vectors from 32 up

  InjectionMailbox mailbox;
  std::atomic<uint32_t> kicks{0};
  std::atomic<bool> done{false};
  std::array<std::atomic<uint32_t>, 256> seen{};
  std::atomic<uint32_t> level_mismatches{0};

  std::thread consumer{[&] {
    uint32_t handled = 0;
    while (true) {
      kicks.wait(handled, std::memory_order_acquire);
      handled = kicks.load(std::memory_order_acquire);
      const auto drained = mailbox.drain();
      for (unsigned v = 0; v < 256; ++v) {
        if (!is_set(drained.vectors, v)) continue;
        if (is_set(drained.level, v) != (v % 2 == 1)) level_mismatches.fetch_add(1);
        seen[v].fetch_add(1, std::memory_order_release);
      }
      if (done.load(std::memory_order_acquire) && drained.empty()) return;
    }
  }};

  std::atomic<uint32_t> lost{0};
  std::vector<std::thread> producers;
  for (unsigned p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (unsigned i = 0; i < kPostsEach && lost.load() == 0; ++i) {
        const unsigned vector = 32 + p * kVectorsEach + i % kVectorsEach;
        const uint32_t before = seen[vector].load(std::memory_order_acquire);
        if (mailbox.post_vector(static_cast<uint8_t>(vector), vector % 2 == 1)) {
          kicks.fetch_add(1, std::memory_order_release);
          kicks.notify_one();
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (seen[vector].load(std::memory_order_acquire) == before) {
          if (std::chrono::steady_clock::now() > deadline) {
            lost.fetch_add(1);
            return;
          }
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& producer : producers) producer.join();
  done.store(true, std::memory_order_release);
  kicks.fetch_add(1, std::memory_order_release);
  kicks.notify_one();
  consumer.join();

  EXPECT_EQ(lost.load(), 0u) << "a posted vector was never drained: a lost post or kick";
  EXPECT_EQ(level_mismatches.load(), 0u);
  uint64_t total_seen = 0;
  for (auto& count : seen) total_seen += count.load();
  EXPECT_GE(total_seen, uint64_t{kVectorsEach}) << "the consumer saw the posts";
  EXPECT_LE(total_seen, uint64_t{kProducers} * kPostsEach) << "never more deliveries than posts";
}

}  // namespace
}  // namespace ember
