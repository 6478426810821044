#include "irq/lapic.h"
#include "irq/lapic_mmio.h"

#include "unit/interrupt_fakes.h"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace ember {
namespace {

constexpr uint32_t ID = 0x20, VER = 0x30, TPR = 0x80, PPR = 0xa0, EOI = 0xb0, LDR = 0xd0, DFR = 0xe0, SVR = 0xf0,
                   ISR = 0x100, TMR = 0x180, IRR = 0x200, ESR = 0x280, ICR_LOW = 0x300, ICR_HIGH = 0x310,
                   LVT_TIMER = 0x320, LVT_LINT0 = 0x350, TMICT = 0x380, TMCCT = 0x390, TDCR = 0x3e0;

using test::CountingKick;
using test::RecordingEoi;

// Four VCPUs' worth of mailboxes and addressing behind one router; LAPIC 0
// (or any) under test, with a clock the test moves by hand.
class LapicTest : public ::testing::Test {
 protected:
  static constexpr unsigned kCpus = 4;
  LapicTest() {
    for (unsigned i = 0; i < kCpus; ++i) router.attach({&mailboxes[i], &addressing[i], &kicks[i]});
    for (unsigned i = 0; i < kCpus; ++i) {
      // A guest TSC at 1 GHz that starts at 5000 when the clock reads 1 ms.
      TscClock tsc{[this] { return now - 1'000'000 + 5000; }, 1'000'000};
      lapics.push_back(std::make_unique<Lapic>(i, router, eoi, addressing[i], [this] { return now; }, tsc));
      lapics[i]->write_register(SVR, 0x1ff);  // software-enable, spurious vector 0xff
    }
  }
  Lapic& lapic(unsigned i = 0) { return *lapics[i]; }
  // Delivers what was posted to VCPU i's mailbox into its LAPIC, as the VCPU loop does.
  InjectionMailbox::Drained drain(unsigned i) {
    auto drained = mailboxes[i].drain();
    lapics[i]->accept(drained);
    return drained;
  }
  void post(unsigned i, uint8_t vector, bool level = false) {
    mailboxes[i].post_vector(vector, level);
    drain(i);
  }
  bool irr(unsigned cpu, uint8_t vector) { return (lapic(cpu).read_register(IRR + (vector / 32) * 0x10) >> (vector % 32)) & 1; }

  uint64_t                           now = 1'000'000;
  std::array<InjectionMailbox, kCpus> mailboxes;
  std::array<ApicAddressing, kCpus>  addressing;
  std::array<CountingKick, kCpus>    kicks;
  InterruptRouter                    router;
  RecordingEoi                       eoi;
  std::vector<std::unique_ptr<Lapic>> lapics;
};

TEST_F(LapicTest, IdentityRegisters) {
  EXPECT_EQ(lapic(2).read_register(ID), 2u << 24);
  EXPECT_EQ(lapic().read_register(VER) & 0xff, 0x14u);
  EXPECT_EQ((lapic().read_register(VER) >> 16) & 0xff, 6u) << "max LVT entry";
  EXPECT_EQ(lapic().read_register(DFR), 0xffffffffu);
}

TEST_F(LapicTest, HighestRequestAboveTheProcessorPriorityIsDeliverable) {
  post(0, 0x31);
  post(0, 0x45);
  EXPECT_EQ(lapic().deliverable_vector(), 0x45);
  lapic().write_register(TPR, 0x40);
  EXPECT_EQ(lapic().deliverable_vector(), std::nullopt) << "same priority class as TPR is held";
  lapic().write_register(TPR, 0x3f);
  EXPECT_EQ(lapic().deliverable_vector(), 0x45);
  lapic().write_register(TPR, 0xff);
  EXPECT_EQ(lapic().deliverable_vector(), std::nullopt);
  EXPECT_EQ(lapic().read_register(PPR), 0xffu);
}

// The VCPU loop polls CR8 exactly while TPR, and nothing else, holds a
// vector back: not for an empty IRR, a deliverable vector or one held by
// a vector in service (whose EOI always reaches ember).
TEST_F(LapicTest, TprHoldsBackOnlyWhatLoweringTprWouldRelease) {
  EXPECT_FALSE(lapic().tpr_holds_back_a_vector()) << "nothing requested";
  post(0, 0x45);
  EXPECT_FALSE(lapic().tpr_holds_back_a_vector()) << "0x45 is deliverable";
  lapic().write_cr8(5);
  EXPECT_TRUE(lapic().tpr_holds_back_a_vector());
  lapic().write_cr8(0);
  lapic().start_servicing(0x45);
  post(0, 0x41);
  lapic().write_cr8(4);
  EXPECT_FALSE(lapic().tpr_holds_back_a_vector()) << "0x45 in service holds 0x41 back too";
  post(0, 0x61);
  lapic().write_cr8(6);
  EXPECT_TRUE(lapic().tpr_holds_back_a_vector()) << "0x61 is above the class in service";
}

// PV EOI may end only an edge-triggered vector: a level-triggered one's EOI
// must reach the IOAPIC at once (remote IRR). A request waiting behind an
// edge vector is the VCPU loop's to weigh (it asks for the interrupt window).
TEST_F(LapicTest, OnlyAnEdgeVectorMayHaveItsEoiWait) {
  post(0, 0x45);
  lapic().start_servicing(0x45);
  EXPECT_TRUE(lapic().eoi_may_wait(0x45));
  EXPECT_EQ(lapic().highest_in_service(), 0x45);
  post(0, 0x31);
  EXPECT_TRUE(lapic().eoi_may_wait(0x45)) << "0x31 waiting behind it changes nothing here";
  lapic().end_of_interrupt();
  EXPECT_EQ(lapic().highest_in_service(), std::nullopt);
  lapic().start_servicing(0x31);
  post(0, 0x52, /*level=*/true);
  lapic().start_servicing(0x52);
  EXPECT_FALSE(lapic().eoi_may_wait(0x52)) << "level-triggered";
  EXPECT_EQ(lapic().highest_in_service(), 0x52);
}

// What PV EOI's window exit is for (VcpuRunner::review_pv_eoi_offer): a
// request that only the next EOI releases, not TPR or another vector still
// in service.
TEST_F(LapicTest, ARequestWaitsForTheEoiOnlyWhenThatEoiWouldReleaseIt) {
  post(0, 0x31);
  EXPECT_FALSE(lapic().request_deliverable_after_eoi()) << "nothing in service: no EOI to wait for";
  post(0, 0x45);
  lapic().start_servicing(0x45);
  EXPECT_EQ(lapic().deliverable_vector(), std::nullopt) << "0x31 waits for the EOI of 0x45";
  EXPECT_TRUE(lapic().request_deliverable_after_eoi());
  lapic().write_register(TPR, 0x30);
  EXPECT_FALSE(lapic().request_deliverable_after_eoi()) << "TPR holds 0x31 back after that EOI too";
  lapic().write_register(TPR, 0);
  post(0, 0x36);
  lapic().start_servicing(0x36);  // out of order, to have two in service
  EXPECT_EQ(lapic().highest_in_service(), 0x45);
  EXPECT_FALSE(lapic().request_deliverable_after_eoi()) << "0x36, still in service after that EOI, holds 0x31 back";
  post(0, 0x52);
  EXPECT_TRUE(lapic().request_deliverable_after_eoi()) << "0x52 is deliverable now, and still after the EOI";
}

TEST_F(LapicTest, InServiceVectorBlocksItsClassAndBelow) {
  post(0, 0x45);
  lapic().start_servicing(0x45);
  EXPECT_EQ(lapic().read_register(PPR), 0x40u);
  EXPECT_TRUE((lapic().read_register(ISR + 0x20) >> 5) & 1) << "0x45 is in ISR";
  post(0, 0x41);
  EXPECT_EQ(lapic().deliverable_vector(), std::nullopt);
  post(0, 0x51);
  EXPECT_EQ(lapic().deliverable_vector(), 0x51) << "a higher class nests";
}

TEST_F(LapicTest, EoiRetiresTheHighestInServiceVector) {
  post(0, 0x45);
  lapic().start_servicing(0x45);
  post(0, 0x61);
  lapic().start_servicing(0x61);
  post(0, 0x41);
  lapic().write_register(EOI, 0);
  EXPECT_EQ(lapic().read_register(PPR), 0x40u) << "0x61 retired, 0x45 still in service";
  lapic().write_register(EOI, 0);
  EXPECT_EQ(lapic().read_register(PPR), 0x00u);
  EXPECT_EQ(lapic().deliverable_vector(), 0x41);
  EXPECT_TRUE(eoi.vectors.empty()) << "edge-triggered EOIs stay in the LAPIC";
}

TEST_F(LapicTest, LevelTriggeredEoiIsBroadcastToTheIoapic) {
  post(0, 0x52, true);
  EXPECT_TRUE((lapic().read_register(TMR + 0x20) >> 18) & 1) << "TMR marks it level";
  lapic().start_servicing(0x52);
  lapic().write_register(EOI, 0);
  EXPECT_EQ(eoi.vectors, std::vector<uint8_t>{0x52});
}

TEST_F(LapicTest, SoftwareDisabledApicTakesNoFixedInterruptsAndKeepsLvtsMasked) {
  lapic().write_register(SVR, 0xff);
  post(0, 0x40);
  EXPECT_FALSE(irr(0, 0x40));
  lapic().write_register(LVT_TIMER, 0x30);
  EXPECT_EQ(lapic().read_register(LVT_TIMER), 0x10030u) << "mask stays set";
  EXPECT_FALSE(addressing[0].software_enabled.load());
}

TEST_F(LapicTest, IllegalVectorsAreRefusedAndReportedInEsr) {
  post(0, 5);
  EXPECT_FALSE(irr(0, 5));
  lapic().write_register(ESR, 0);
  EXPECT_EQ(lapic().read_register(ESR), 1u << 6);
  lapic().write_register(ESR, 0);
  EXPECT_EQ(lapic().read_register(ESR), 0u);
}

TEST_F(LapicTest, OneShotTimerFiresOnceAtItsDeadline) {
  lapic().write_register(TDCR, 0xb);  // divide by 1
  lapic().write_register(LVT_TIMER, 0x40);
  lapic().write_register(TMICT, 1000);
  EXPECT_EQ(lapic().timer_deadline(), now + 1000);
  now += 400;
  EXPECT_EQ(lapic().read_register(TMCCT), 600u);
  lapic().expire_timer(now);
  EXPECT_FALSE(irr(0, 0x40));
  now += 600;
  lapic().expire_timer(now);
  EXPECT_TRUE(irr(0, 0x40));
  EXPECT_EQ(lapic().timer_deadline(), std::nullopt);
  EXPECT_EQ(lapic().read_register(TMCCT), 0u);
}

TEST_F(LapicTest, PeriodicTimerRearmsAndKeepsItsPhase) {
  lapic().write_register(TDCR, 0x3);  // divide by 16
  lapic().write_register(LVT_TIMER, (1u << 17) | 0x41);
  lapic().write_register(TMICT, 100'000);  // 1.6 ms period
  constexpr uint64_t kPeriod = 1'600'000;
  const uint64_t start = now;
  now = start + kPeriod;
  lapic().expire_timer(now);
  EXPECT_TRUE(irr(0, 0x41));
  EXPECT_EQ(lapic().timer_deadline(), start + 2 * kPeriod);
  now = start + 2 * kPeriod + kPeriod * 3 + 5;  // late by three periods: one interrupt, phase kept
  lapic().expire_timer(now);
  EXPECT_EQ(lapic().timer_deadline(), start + kPeriod * 6);
}

// As KVM's in-kernel LAPIC: a periodic timer interrupts at most every
// 200 us, however small its count; a one-shot timer is not limited.
TEST_F(LapicTest, PeriodicTimerInterruptsNoFasterThanEvery200Microseconds) {
  lapic().write_register(TDCR, 0xb);  // divide by 1
  lapic().write_register(LVT_TIMER, (1u << 17) | 0x41);
  lapic().write_register(TMICT, 1);
  EXPECT_EQ(lapic().timer_deadline(), now + Lapic::kMinPeriodNs);
  now += Lapic::kMinPeriodNs;
  lapic().expire_timer(now);
  EXPECT_TRUE(irr(0, 0x41));
  EXPECT_EQ(lapic().timer_deadline(), now + Lapic::kMinPeriodNs);
  EXPECT_LE(lapic().read_register(TMCCT), 1u);
  lapic().write_register(LVT_TIMER, 0x41);
  lapic().write_register(TMICT, 1);
  EXPECT_EQ(lapic().timer_deadline(), now + 1) << "one-shot";
}

// While the timer's vector waits in IRR, or its LVT is masked, an expiry
// changes nothing the guest can see: the VCPU loop need not wake for it.
TEST_F(LapicTest, TimerExpiryChangesNothingWhileItsVectorWaitsOrItIsMasked) {
  lapic().write_register(LVT_TIMER, (1u << 17) | 0x41);
  lapic().write_register(TMICT, 100'000);  // periodic, divide by 2: 200 us
  EXPECT_FALSE(lapic().timer_expiry_changes_nothing()) << "armed, nothing pending";
  post(0, 0x42);
  EXPECT_FALSE(lapic().timer_expiry_changes_nothing()) << "another vector pending";
  now += 200'000;
  lapic().expire_timer(now);
  ASSERT_TRUE(irr(0, 0x41));
  EXPECT_TRUE(lapic().timer_expiry_changes_nothing()) << "its vector waits in IRR";
  lapic().start_servicing(0x41);
  EXPECT_FALSE(lapic().timer_expiry_changes_nothing()) << "taken: the next expiry raises it again";
  lapic().write_register(LVT_TIMER, (1u << 16) | (1u << 17) | 0x41);
  EXPECT_TRUE(lapic().timer_expiry_changes_nothing()) << "masked";
}

TEST_F(LapicTest, MaskedTimerCountsButRaisesNothing) {
  lapic().write_register(LVT_TIMER, (1u << 16) | 0x42);
  lapic().write_register(TMICT, 10);
  now += 1000;
  lapic().expire_timer(now);
  EXPECT_FALSE(irr(0, 0x42));
}

// SDM 11.5.4.1: only a switch into or out of TSC-deadline mode disarms the
// timer; between one-shot and periodic the count runs on.
TEST_F(LapicTest, OneShotToPeriodicKeepsTheCountRunningAndThenReloads) {
  lapic().write_register(TDCR, 0xb);  // divide by 1
  lapic().write_register(LVT_TIMER, 0x40);
  lapic().write_register(TMICT, 1'000'000);
  now += 300'000;
  lapic().write_register(LVT_TIMER, (1u << 17) | 0x40);
  EXPECT_EQ(lapic().read_register(TMICT), 1'000'000u);
  EXPECT_EQ(lapic().read_register(TMCCT), 700'000u);
  EXPECT_EQ(lapic().timer_deadline(), now + 700'000);
  now += 700'000;
  lapic().expire_timer(now);
  EXPECT_TRUE(irr(0, 0x40));
  EXPECT_EQ(lapic().timer_deadline(), now + 1'000'000) << "periodic now: it reloads";
  EXPECT_EQ(lapic().read_register(TMCCT), 1'000'000u);
}

TEST_F(LapicTest, PeriodicToOneShotFiresOnceMore) {
  lapic().write_register(TDCR, 0xb);
  lapic().write_register(LVT_TIMER, (1u << 17) | 0x40);
  lapic().write_register(TMICT, 1'000'000);
  now += 2'500'000;  // two periods passed unserviced, half of the third
  lapic().expire_timer(now);
  lapic().write_register(EOI, 0);
  lapic().write_register(LVT_TIMER, 0x40);
  EXPECT_EQ(lapic().read_register(TMCCT), 500'000u) << "the count keeps its phase";
  now += 500'000;
  lapic().expire_timer(now);
  EXPECT_EQ(lapic().timer_deadline(), std::nullopt) << "one-shot now: it stops";
  EXPECT_EQ(lapic().read_register(TMCCT), 0u);
  lapic().write_register(TMICT, 50);
  EXPECT_EQ(lapic().timer_deadline(), now + 50) << "a new initial count restarts it";
}

// A one-shot count that ran out before the guest switched to periodic has
// fired; it does not come back as a periodic timer.
TEST_F(LapicTest, AnExpiredOneShotSwitchedToPeriodicStaysExpired) {
  lapic().write_register(TDCR, 0xb);
  lapic().write_register(LVT_TIMER, 0x40);
  lapic().write_register(TMICT, 1'000'000);
  now += 1'500'000;  // expired; the VCPU loop has not looked yet
  lapic().write_register(LVT_TIMER, (1u << 17) | 0x40);
  EXPECT_TRUE(irr(0, 0x40));
  EXPECT_EQ(lapic().timer_deadline(), std::nullopt);
  EXPECT_EQ(lapic().read_register(TMCCT), 0u);
}

TEST_F(LapicTest, SwitchingIntoOrOutOfTscDeadlineModeDisarms) {
  lapic().write_register(LVT_TIMER, 0x40);
  lapic().write_register(TMICT, 1000);
  lapic().write_register(LVT_TIMER, (2u << 17) | 0x40);
  EXPECT_EQ(lapic().timer_deadline(), std::nullopt);
  EXPECT_EQ(lapic().read_register(TMICT), 0u);
  lapic().write_register(TMICT, 1000);
  EXPECT_EQ(lapic().read_register(TMICT), 0u) << "initial-count writes are ignored in TSC-deadline mode";
  ASSERT_TRUE(lapic().write_msr(0x6e0, 9000));
  lapic().write_register(TMICT, 1000);
  EXPECT_TRUE(lapic().timer_deadline().has_value()) << "and leave an armed deadline alone";
  lapic().write_register(LVT_TIMER, (1u << 17) | 0x40);
  EXPECT_EQ(lapic().timer_deadline(), std::nullopt);
  EXPECT_EQ(lapic().read_msr(0x6e0), 0u);
}

// CR8 is TPR[7:4] (SDM 11.8.6.1): writing CR8 sets TPR's class and clears
// its low bits; a TPR write shows in CR8.
TEST_F(LapicTest, Cr8AndTprAreOneRegister) {
  lapic().write_cr8(0xf);
  EXPECT_EQ(lapic().read_register(TPR), 0xf0u);
  EXPECT_EQ(addressing[0].tpr.load(), 0xf0) << "the router sees it";
  lapic().write_register(TPR, 0x57);
  EXPECT_EQ(lapic().cr8(), 5);
  lapic().write_cr8(5);
  EXPECT_EQ(lapic().read_register(TPR), 0x57u) << "the same class keeps TPR's low bits";
  post(0, 0x45);
  EXPECT_EQ(lapic().deliverable_vector(), std::nullopt);
  lapic().write_cr8(0);
  EXPECT_EQ(lapic().deliverable_vector(), 0x45);
}

// The line a --timeout report gives for each VCPU: enough to tell a lost
// interrupt (pending in IRR) from a guest that masked them or never armed
// its timer.
TEST_F(LapicTest, DescribeNamesPendingAndInServiceVectorsThePriorityAndTheTimer) {
  EXPECT_EQ(lapic().describe(), "IRR {} ISR {} TPR 0x0 timer one-shot (masked), not armed");  // LVTs reset masked
  lapic().write_register(TPR, 0x10);
  post(0, 0xec);
  post(0, 0x31);
  ASSERT_EQ(lapic().deliverable_vector(), 0xec);
  lapic().start_servicing(0xec);
  lapic().write_register(TDCR, 0xb);  // divide by 1: one count per nanosecond
  lapic().write_register(LVT_TIMER, (1u << 17) | 0x40);
  lapic().write_register(TMICT, 3'500'000);
  EXPECT_EQ(lapic().describe(), "IRR {0x31} ISR {0xec} TPR 0x10 timer periodic, due in 3 ms");
  now += 3'500'000;
  EXPECT_EQ(lapic().describe(), "IRR {0x31} ISR {0xec} TPR 0x10 timer periodic, due now");
  lapic().write_register(LVT_TIMER, (2u << 17) | (1u << 16) | 0x40);
  // The period that ran out before the switch fired first.
  EXPECT_EQ(lapic().describe(), "IRR {0x31,0x40} ISR {0xec} TPR 0x10 timer TSC-deadline (masked), not armed");
}

TEST_F(LapicTest, FixedIpiByPhysicalDestination) {
  lapic().write_register(ICR_HIGH, 2u << 24);
  lapic().write_register(ICR_LOW, 0x4055);  // fixed, assert, vector 0x55
  EXPECT_EQ(kicks[2].kicks, 1);
  drain(2);
  EXPECT_TRUE(irr(2, 0x55));
  EXPECT_EQ(kicks[1].kicks, 0);
}

TEST_F(LapicTest, IpiToAMissingApicIdReachesNobody) {
  lapic().write_register(ICR_HIGH, 9u << 24);
  lapic().write_register(ICR_LOW, 0x4055);
  for (auto& k : kicks) EXPECT_EQ(k.kicks, 0);
}

TEST_F(LapicTest, ShorthandsSelfAllAndAllButSelf) {
  lapic(1).write_register(ICR_LOW, (1u << 18) | 0x60);  // self
  EXPECT_EQ(kicks[1].kicks, 1);
  for (unsigned i = 0; i < kCpus; ++i) drain(i);
  lapic(1).write_register(ICR_LOW, (3u << 18) | 0x61);  // all excluding self
  for (unsigned i = 0; i < kCpus; ++i) drain(i);
  EXPECT_TRUE(irr(1, 0x60));
  EXPECT_FALSE(irr(1, 0x61));
  for (unsigned i : {0u, 2u, 3u}) EXPECT_TRUE(irr(i, 0x61)) << i;
  lapic(1).write_register(ICR_LOW, (2u << 18) | 0x62);  // all including self
  for (unsigned i = 0; i < kCpus; ++i) drain(i);
  for (unsigned i = 0; i < kCpus; ++i) EXPECT_TRUE(irr(i, 0x62)) << i;
}

TEST_F(LapicTest, LogicalFlatDestination) {
  for (unsigned i = 0; i < kCpus; ++i) lapic(i).write_register(LDR, (1u << i) << 24);
  lapic().write_register(ICR_HIGH, 0x0au << 24);  // CPUs 1 and 3
  lapic().write_register(ICR_LOW, (1u << 11) | 0x70);
  for (unsigned i = 0; i < kCpus; ++i) drain(i);
  EXPECT_FALSE(irr(0, 0x70));
  EXPECT_TRUE(irr(1, 0x70));
  EXPECT_FALSE(irr(2, 0x70));
  EXPECT_TRUE(irr(3, 0x70));
}

TEST_F(LapicTest, LogicalClusterDestination) {
  // Cluster model: CPUs 0,1 in cluster 1, CPUs 2,3 in cluster 2.
  const uint32_t ids[] = {0x11, 0x12, 0x21, 0x22};
  for (unsigned i = 0; i < kCpus; ++i) {
    lapic(i).write_register(DFR, 0x0fffffff);
    lapic(i).write_register(LDR, ids[i] << 24);
  }
  lapic().write_register(ICR_HIGH, 0x23u << 24);  // cluster 2, members 1 and 2
  lapic().write_register(ICR_LOW, (1u << 11) | 0x71);
  for (unsigned i = 0; i < kCpus; ++i) drain(i);
  EXPECT_FALSE(irr(0, 0x71));
  EXPECT_FALSE(irr(1, 0x71));
  EXPECT_TRUE(irr(2, 0x71));
  EXPECT_TRUE(irr(3, 0x71));
}

TEST_F(LapicTest, LowestPriorityPicksTheLowestTpr) {
  for (unsigned i = 0; i < kCpus; ++i) {
    lapic(i).write_register(LDR, 0x01u << 24);
    lapic(i).write_register(TPR, 0x20);
  }
  lapic(2).write_register(TPR, 0x10);
  lapic().write_register(ICR_HIGH, 0x01u << 24);
  lapic().write_register(ICR_LOW, (1u << 11) | (1u << 8) | 0x72);
  for (unsigned i = 0; i < kCpus; ++i) drain(i);
  for (unsigned i = 0; i < kCpus; ++i) EXPECT_EQ(irr(i, 0x72), i == 2) << i;
}

TEST_F(LapicTest, InitSipiAndNmiArePosted) {
  lapic().write_register(ICR_HIGH, 1u << 24);
  lapic().write_register(ICR_LOW, 0x4500);  // INIT, assert
  lapic().write_register(ICR_LOW, 0x4608);  // SIPI vector 8
  lapic().write_register(ICR_LOW, 0x4400);  // NMI
  const auto drained = mailboxes[1].drain();
  EXPECT_TRUE(drained.init);
  EXPECT_EQ(drained.sipi, 8);
  EXPECT_EQ(drained.nmis, 1u);
}

// Issue 17, bug 3: an ICR with the reserved delivery mode 3 reaches nobody.
TEST_F(LapicTest, IcrWithTheReservedDeliveryModeReachesNobody) {
  lapic().write_register(ICR_HIGH, 1u << 24);
  ::testing::internal::CaptureStderr();
  lapic().write_register(ICR_LOW, 0x4345);  // mode 3, vector 0x45
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_TRUE(mailboxes[1].drain().empty());
  EXPECT_EQ(kicks[1].kicks, 0);
  EXPECT_NE(err.find("delivery mode 3 (reserved) is not supported"), std::string::npos) << err;
  EXPECT_NE(err.find("reached no APIC"), std::string::npos) << "not counted as delivered: " << err;
}

TEST_F(LapicTest, InitLevelDeassertIsIgnored) {
  lapic().write_register(ICR_HIGH, 1u << 24);
  lapic().write_register(ICR_LOW, 0x8500);  // INIT, level trigger, de-assert
  EXPECT_TRUE(mailboxes[1].drain().empty());
}

TEST_F(LapicTest, ResetKeepsTheIdAndClearsTheRest) {
  lapic(1).write_register(TPR, 0x30);
  post(1, 0x40);
  lapic(1).reset();
  EXPECT_EQ(lapic(1).read_register(ID), 1u << 24);
  EXPECT_EQ(lapic(1).read_register(TPR), 0u);
  EXPECT_FALSE(irr(1, 0x40));
  EXPECT_EQ(lapic(1).read_register(SVR), 0xffu);
  EXPECT_EQ(lapic(1).read_register(LVT_LINT0), 0x10000u);
}

// ---- MSRs: IA32_APIC_BASE, x2APIC, IA32_TSC_DEADLINE ----

constexpr uint32_t APIC_BASE = 0x1b, TSC_DEADLINE = 0x6e0;
constexpr uint32_t x2(uint32_t offset) { return 0x800 + (offset >> 4); }
constexpr uint64_t kEnabled = 0xfee00000 | (1u << 11), kX2apic = 1u << 10, kBsp = 1u << 8;

TEST_F(LapicTest, ApicBaseStartsEnabledAtFee00000WithTheBspFlagOnVcpu0) {
  EXPECT_EQ(lapic(0).read_msr(APIC_BASE), kEnabled | kBsp);
  EXPECT_EQ(lapic(1).read_msr(APIC_BASE), kEnabled);
}

TEST_F(LapicTest, X2apicRegistersFaultInXapicMode) {
  EXPECT_EQ(lapic().read_msr(x2(ID)), std::nullopt);
  EXPECT_FALSE(lapic().write_msr(x2(TPR), 0));
}

TEST_F(LapicTest, ApicBaseTransitionsFollowTheSdm) {
  EXPECT_FALSE(lapic(1).write_msr(APIC_BASE, 0xfee00000 | kX2apic)) << "x2APIC without the enable bit";
  EXPECT_FALSE(lapic(1).write_msr(APIC_BASE, kEnabled | 1)) << "reserved bit";
  ASSERT_TRUE(lapic(1).write_msr(APIC_BASE, kEnabled | kX2apic));
  EXPECT_TRUE(lapic(1).x2apic_mode());
  EXPECT_FALSE(lapic(1).write_msr(APIC_BASE, kEnabled)) << "x2APIC back to xAPIC directly";
  ASSERT_TRUE(lapic(1).write_msr(APIC_BASE, 0xfee00000)) << "disable";
  EXPECT_FALSE(lapic(1).x2apic_mode());
  EXPECT_FALSE(lapic(1).write_msr(APIC_BASE, kEnabled | kX2apic)) << "disabled to x2APIC directly";
  EXPECT_TRUE(lapic(1).write_msr(APIC_BASE, kEnabled));
  EXPECT_EQ(lapic(1).read_register(SVR), 0xffu) << "re-enabled in the power-up state";
  EXPECT_TRUE(lapic(0).write_msr(APIC_BASE, kEnabled));
  EXPECT_EQ(lapic(0).read_msr(APIC_BASE), kEnabled | kBsp) << "the BSP flag is read-only";
}

// The base may move (SDM 11.4.5); the page decodes where it points, and only
// while the APIC is enabled in xAPIC mode.
TEST_F(LapicTest, ThePageFollowsTheBaseAndVanishesWhenDisabledOrInX2apicMode) {
  EXPECT_TRUE(lapic(1).decodes(0xfee00000));
  EXPECT_TRUE(lapic(1).decodes(0xfee00ff0));
  EXPECT_FALSE(lapic(1).decodes(0xfee01000));
  ASSERT_TRUE(lapic(1).write_msr(APIC_BASE, 0xfed40000 | (1u << 11)));
  EXPECT_EQ(lapic(1).mmio_base(), 0xfed40000u);
  EXPECT_TRUE(lapic(1).decodes(0xfed40020));
  EXPECT_FALSE(lapic(1).decodes(0xfee00020));
  EXPECT_TRUE(lapic(0).decodes(0xfee00020)) << "each VCPU's own";
  ASSERT_TRUE(lapic(1).write_msr(APIC_BASE, 0xfed40000));
  EXPECT_FALSE(lapic(1).decodes(0xfed40020)) << "globally disabled";
  ASSERT_TRUE(lapic(1).write_msr(APIC_BASE, kEnabled));
  ASSERT_TRUE(lapic(1).write_msr(APIC_BASE, kEnabled | kX2apic));
  EXPECT_FALSE(lapic(1).decodes(0xfee00020)) << "x2APIC mode";
}

// The xAPIC ID is writable, but x2APIC mode takes the initial APIC ID
// (SDM 11.12.5.1), and a global disable brings the initial ID back.
TEST_F(LapicTest, X2apicModeAndReEnablingTakeTheInitialId) {
  lapic(2).write_register(ID, 9u << 24);
  EXPECT_EQ(lapic(2).read_register(ID), 9u << 24);
  ASSERT_TRUE(lapic(2).write_msr(APIC_BASE, kEnabled | kX2apic));
  EXPECT_EQ(lapic(2).read_msr(x2(ID)), 2u);
  EXPECT_EQ(addressing[2].id.load(), 2u);
  ASSERT_TRUE(lapic(2).write_msr(APIC_BASE, 0xfee00000));
  ASSERT_TRUE(lapic(2).write_msr(APIC_BASE, kEnabled));
  EXPECT_EQ(lapic(2).read_register(ID), 2u << 24);
  lapic(2).write_register(ID, 9u << 24);
  ASSERT_TRUE(lapic(2).write_msr(APIC_BASE, 0xfee00000));
  ASSERT_TRUE(lapic(2).write_msr(APIC_BASE, kEnabled));
  EXPECT_EQ(lapic(2).read_register(ID), 2u << 24) << "re-enabled after a global disable";
}

TEST_F(LapicTest, GloballyDisabledApicTakesNoInterrupts) {
  ASSERT_TRUE(lapic(1).write_msr(APIC_BASE, 0xfee00000));
  lapic(1).write_register(SVR, 0x1ff);
  post(1, 0x40);
  EXPECT_FALSE(irr(1, 0x40));
  EXPECT_FALSE(addressing[1].software_enabled.load());
}

TEST_F(LapicTest, X2apicIdAndDerivedLogicalId) {
  ASSERT_TRUE(lapic(3).write_msr(APIC_BASE, kEnabled | kX2apic));
  EXPECT_EQ(lapic(3).read_msr(x2(ID)), 3u);
  EXPECT_EQ(lapic(3).read_msr(x2(LDR)), 1u << 3) << "cluster 0, bit 3";
  EXPECT_EQ(addressing[3].ldr.load(), 1u << 3) << "the router sees the derived LDR";
  EXPECT_FALSE(lapic(3).write_msr(x2(ID), 7)) << "ID is read-only in x2APIC mode";
  EXPECT_FALSE(lapic(3).write_msr(x2(LDR), 7)) << "LDR is read-only in x2APIC mode";
  EXPECT_EQ(lapic(3).read_msr(x2(DFR)), std::nullopt) << "no DFR in x2APIC mode";
  EXPECT_EQ(lapic(3).read_msr(x2(EOI)), std::nullopt) << "EOI is write-only";
  EXPECT_FALSE(lapic(3).write_msr(x2(EOI), 1)) << "a non-zero EOI write faults";
  EXPECT_TRUE(lapic(3).write_msr(x2(EOI), 0));
}

TEST_F(LapicTest, X2apicSelfIpiAndIcr) {
  ASSERT_TRUE(lapic(0).write_msr(APIC_BASE, kEnabled | kBsp | kX2apic));
  EXPECT_TRUE(lapic(0).write_msr(0x83f, 0x66));
  drain(0);
  EXPECT_TRUE(irr(0, 0x66));
  EXPECT_FALSE(lapic(0).write_msr(0x83f, 0x166)) << "SELF IPI takes only a vector";
  EXPECT_TRUE(lapic(0).write_msr(x2(ICR_LOW), (uint64_t{2} << 32) | 0x67));
  drain(2);
  EXPECT_TRUE(irr(2, 0x67)) << "32-bit destination from ICR bits 63:32";
  EXPECT_EQ(lapic(0).read_msr(x2(ICR_LOW)), (uint64_t{2} << 32) | 0x67);
}

TEST_F(LapicTest, TscDeadlineFiresOnceAndReadsZeroAfter) {
  lapic().write_register(LVT_TIMER, (2u << 17) | 0x48);
  // Guest TSC is 5000 now (1 GHz): a deadline 3000 cycles ahead is 3 us away.
  ASSERT_TRUE(lapic().write_msr(TSC_DEADLINE, 8000));
  EXPECT_EQ(lapic().timer_deadline(), now + 3000);
  EXPECT_EQ(lapic().read_msr(TSC_DEADLINE), 8000u);
  now += 3000;
  lapic().expire_timer(now);
  EXPECT_TRUE(irr(0, 0x48));
  EXPECT_EQ(lapic().read_msr(TSC_DEADLINE), 0u);
  EXPECT_EQ(lapic().timer_deadline(), std::nullopt);
}

// An expiry nobody woke for: the TSC deadline reads 0 once its time has
// passed, before expire_timer runs (SDM 11.5.4.1).
TEST_F(LapicTest, TscDeadlineReadsZeroOncePastEvenBeforeTheExpiryIsProcessed) {
  lapic().write_register(LVT_TIMER, (2u << 17) | 0x48);
  ASSERT_TRUE(lapic().write_msr(TSC_DEADLINE, 8000));  // 3 us ahead
  now += 2999;
  EXPECT_EQ(lapic().read_msr(TSC_DEADLINE), 8000u);
  now += 1;
  EXPECT_EQ(lapic().read_msr(TSC_DEADLINE), 0u);
}

TEST_F(LapicTest, AFarTscDeadlineIsKeptWhole) {
  lapic().write_register(LVT_TIMER, (2u << 17) | 0x48);
  constexpr uint64_t kAhead = uint64_t{1} << 45;  // 9.8 hours at 1 GHz
  ASSERT_TRUE(lapic().write_msr(TSC_DEADLINE, 5000 + kAhead));
  EXPECT_EQ(lapic().timer_deadline(), now + kAhead);
}

TEST_F(LapicTest, TscDeadlineInThePastFiresAtOnceAndZeroDisarms) {
  lapic().write_register(LVT_TIMER, (2u << 17) | 0x48);
  ASSERT_TRUE(lapic().write_msr(TSC_DEADLINE, 1));
  EXPECT_EQ(lapic().timer_deadline(), now);
  ASSERT_TRUE(lapic().write_msr(TSC_DEADLINE, 0));
  EXPECT_EQ(lapic().timer_deadline(), std::nullopt);
}

TEST_F(LapicTest, TscDeadlineWritesOutsideThatModeAreIgnored) {
  lapic().write_register(LVT_TIMER, 0x48);  // one-shot
  EXPECT_TRUE(lapic().write_msr(TSC_DEADLINE, 9000));
  EXPECT_EQ(lapic().timer_deadline(), std::nullopt);
  lapic().write_register(TMICT, 100);
  EXPECT_TRUE(lapic().timer_deadline().has_value()) << "initial-count writes still work in one-shot mode";
}

TEST(LapicWithoutTsc, TscDeadlineMsrFaultsWhenNotOffered) {
  InterruptRouter router;
  ApicAddressing addressing;
  RecordingEoi eoi;
  Lapic lapic{0, router, eoi, addressing, [] { return uint64_t{0}; }};
  EXPECT_EQ(lapic.read_msr(TSC_DEADLINE), std::nullopt);
  EXPECT_FALSE(lapic.write_msr(TSC_DEADLINE, 1));
}

// The MMIO page answers only aligned 32-bit accesses (SDM 11.4.1); every
// other width or offset reads all-ones and writes nothing. Addresses the
// LAPIC does not decode are left to the bus.
TEST_F(LapicTest, MmioAccessesOtherThanAligned32BitAreIgnored) {
  const auto read = [&](uint64_t offset, size_t size) {
    std::vector<uint8_t> data(size, 0xee);
    EXPECT_TRUE(lapic_mmio_read(lapic(1), Lapic::kMmioBase + offset, data));
    return data;
  };
  EXPECT_EQ(read(TPR, 4), (std::vector<uint8_t>{0, 0, 0, 0}));
  EXPECT_TRUE(lapic_mmio_write(lapic(1), Lapic::kMmioBase + TPR, std::vector<uint8_t>{0x40, 0, 0, 0}));
  EXPECT_EQ(lapic(1).read_register(TPR), 0x40u);
  EXPECT_EQ(lapic(0).read_register(TPR), 0u);

  for (size_t size : {1, 2, 8}) {
    SCOPED_TRACE(size);
    EXPECT_EQ(read(TPR, size), std::vector<uint8_t>(size, 0xff));
    lapic_mmio_write(lapic(1), Lapic::kMmioBase + TPR, std::vector<uint8_t>(size, 0x90));
    EXPECT_EQ(lapic(1).read_register(TPR), 0x40u);
  }
  for (uint64_t offset : std::initializer_list<uint64_t>{TPR + 1, TPR + 4, Lapic::kMmioSize - 2}) {
    SCOPED_TRACE(offset);
    EXPECT_EQ(read(offset, 4), std::vector<uint8_t>(4, 0xff));
    lapic_mmio_write(lapic(1), Lapic::kMmioBase + offset, std::vector<uint8_t>{0x90, 0, 0, 0});
  }
  EXPECT_EQ(lapic(1).read_register(TPR), 0x40u);
  std::vector<uint8_t> outside(4, 0xee);
  EXPECT_FALSE(lapic_mmio_read(lapic(1), Lapic::kMmioBase + Lapic::kMmioSize, outside));
  EXPECT_EQ(outside, std::vector<uint8_t>(4, 0xee)) << "untouched: the bus answers";
}

}  // namespace
}  // namespace ember
