#include "irq/msi.h"

#include "unit/interrupt_fakes.h"

#include <gtest/gtest.h>

namespace ember {
namespace {

TEST(Msi, DecodesAddressAndData) {
  const auto message = decode_msi(0xfee03004, 0x8145);  // APIC 3, logical; vector 0x45, lowest priority, level
  ASSERT_TRUE(message.has_value());
  EXPECT_EQ(message->destination, 3u);
  EXPECT_TRUE(message->logical);
  EXPECT_EQ(message->vector, 0x45);
  EXPECT_EQ(message->mode, DeliveryMode::LowestPriority);
  EXPECT_TRUE(message->level_triggered);
}

TEST(Msi, RefusesAddressesOutsideTheWindow) {
  EXPECT_FALSE(decode_msi(0xfed00000, 0x40).has_value());
  EXPECT_FALSE(decode_msi(0x1fee00000, 0x40).has_value());
}

using test::CountingKick;
using test::RecordingEoi;

TEST(Msi, DeliversThroughTheRouterToTheNamedApic) {
  InjectionMailbox mailboxes[2];
  ApicAddressing addressing[2];
  CountingKick kicks[2];
  InterruptRouter router;
  for (unsigned i = 0; i < 2; ++i) {
    addressing[i].id = i;
    router.attach({&mailboxes[i], &addressing[i], &kicks[i]});
  }
  EXPECT_EQ(deliver_msi(router, 0xfee01000, 0x0051), 1u);
  EXPECT_EQ(kicks[1].kicks, 1);
  EXPECT_TRUE((mailboxes[1].drain().vectors[1] >> (0x51 - 64)) & 1);
  EXPECT_TRUE(mailboxes[0].drain().empty());
  EXPECT_EQ(deliver_msi(router, 0xfed01000, 0x0051), 0u);
  // Issue 17, bug 3: the reserved delivery mode 3 (and SMI, ExtINT) reach no APIC and are not counted.
  for (const uint32_t mode : {2u, 3u, 7u}) {
    EXPECT_EQ(deliver_msi(router, 0xfee01000, 0x0051 | (mode << 8)), 0u) << mode;
    EXPECT_TRUE(mailboxes[1].drain().empty()) << mode;
  }
}

}  // namespace
}  // namespace ember
