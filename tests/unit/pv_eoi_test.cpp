// PV EOI done by ember (irq/pv_eoi.h): the MSR's checks, and the word's
// protocol with the guest (Documentation/virt/kvm/x86/msr.rst).
#include "irq/pv_eoi.h"

#include <gtest/gtest.h>

#include "memory/memory_map.h"

namespace ember {
namespace {

constexpr uint64_t kWord = 0x5000;

class PvEoiTest : public ::testing::Test {
 protected:
  uint8_t word() const { return memory.read_object<uint8_t>(kWord).value(); }
  // What the guest's EOI does (arch/x86/kernel/kvm.c): clear the bit if set,
  // else write the EOI register.
  bool guest_eoi_skips_the_register() {
    const uint8_t before = word();
    EXPECT_TRUE(memory.write_object<uint8_t>(kWord, before & ~1));
    return (before & 1) != 0;
  }

  GuestMemory memory = std::move(GuestMemory::create(ram_regions_for(1 << 20)).value());
  PvEoi       pv_eoi{memory};
};

TEST_F(PvEoiTest, TheMsrTakesAnAlignedWordInRamOrFaults) {
  EXPECT_FALSE(pv_eoi.write_msr(kWord + 2 + 1)) << "misaligned";
  EXPECT_FALSE(pv_eoi.write_msr((uint64_t{1} << 40) + 1)) << "outside RAM";
  EXPECT_EQ(pv_eoi.msr(), 0u) << "a refused write changes nothing";
  EXPECT_TRUE(pv_eoi.write_msr(kWord + 1));
  EXPECT_EQ(pv_eoi.msr(), kWord + 1);
  EXPECT_TRUE(pv_eoi.write_msr(0)) << "off";
}

TEST_F(PvEoiTest, NothingIsOfferedWhileTheGuestHasNotTurnedItOn) {
  pv_eoi.offer(0x40);
  EXPECT_EQ(pv_eoi.offered_vector(), std::nullopt);
  EXPECT_EQ(word(), 0);
  EXPECT_FALSE(pv_eoi.guest_ended_interrupt());
}

TEST_F(PvEoiTest, AnOfferedEoiIsSeenOnceTheGuestClearsTheBit) {
  ASSERT_TRUE(pv_eoi.write_msr(kWord + 1));
  pv_eoi.offer(0x40);
  EXPECT_EQ(word(), 1);
  EXPECT_FALSE(pv_eoi.guest_ended_interrupt()) << "the guest has not ended it yet";
  EXPECT_TRUE(guest_eoi_skips_the_register());
  EXPECT_TRUE(pv_eoi.guest_ended_interrupt());
  EXPECT_FALSE(pv_eoi.guest_ended_interrupt()) << "one EOI is one EOI";
  EXPECT_FALSE(guest_eoi_skips_the_register()) << "the next EOI, not offered, writes the register";
}

TEST_F(PvEoiTest, AWithdrawnOfferMakesTheGuestsEoiExit) {
  ASSERT_TRUE(pv_eoi.write_msr(kWord + 1));
  pv_eoi.offer(0x40);
  pv_eoi.withdraw();
  EXPECT_EQ(pv_eoi.offered_vector(), std::nullopt);
  EXPECT_FALSE(guest_eoi_skips_the_register());
  EXPECT_FALSE(pv_eoi.guest_ended_interrupt()) << "that EOI reaches the LAPIC through the register, not twice";
}

TEST_F(PvEoiTest, MovingOrTurningOffTheWordTakesBackTheOffer) {
  ASSERT_TRUE(pv_eoi.write_msr(kWord + 1));
  pv_eoi.offer(0x40);
  ASSERT_TRUE(pv_eoi.write_msr(0));
  EXPECT_EQ(word(), 0) << "the old word is left clear";
  EXPECT_FALSE(pv_eoi.guest_ended_interrupt());
}

TEST_F(PvEoiTest, AnOfferRemembersItsVectorAndInitTurnsPvEoiOff) {
  ASSERT_TRUE(pv_eoi.write_msr(kWord + 1));
  pv_eoi.offer(0x41);
  EXPECT_EQ(pv_eoi.offered_vector(), 0x41);
  pv_eoi.reset();
  EXPECT_EQ(pv_eoi.offered_vector(), std::nullopt);
  EXPECT_EQ(word(), 0);
  EXPECT_EQ(pv_eoi.msr(), 0u) << "INIT turns it off, as KVM's LAPIC reset does";
  pv_eoi.offer(0x41);
  EXPECT_EQ(word(), 0) << "nothing offered at the old word afterwards";
}

}  // namespace
}  // namespace ember
