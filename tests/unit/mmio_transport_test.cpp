// The virtio-mmio transport (virtio 1.2 §4.2.2): registers, negotiation,
// queue setup frozen at DRIVER_OK, notifications served off the VCPU
// thread, level interrupts, and the register and reset cases of tests/HOSTILE-INPUTS.md.
#include "virtio/mmio_transport.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "memory/memory_map.h"
#include "unit/interrupt_fakes.h"
#include "unit/virtio_fake_driver.h"
#include "unit/virtio_mmio_registers.h"

namespace ember::virtio {
namespace {

using namespace std::chrono_literals;
using testing::FakeDriver;
using testing::kWrite;
using testing::wait_for;
using test::RecordingLine;

constexpr uint64_t kBuffer = 0x100000;

// Answers each request by writing one byte 0x5a; can be made to block so a
// test can reset the device while a request is in flight.
class EchoDevice final : public VirtioDevice {
 public:
  std::string_view         name() const override { return "echo"; }
  uint32_t                 device_type() const override { return 42; }
  uint64_t                 device_features() const override { return 1u << 3; }
  uint16_t                 queue_count() const override { return 2; }
  uint16_t                 max_queue_size() const override { return 16; }
  std::span<const uint8_t> config_space() const override { return config_; }
  uint32_t handle(uint16_t queue, const DescriptorChain& chain) override {
    {
      std::unique_lock lock{mutex_};
      ++started;
      changed_.notify_all();
      changed_.wait(lock, [&] { return !hold; });
    }
    last_queue = queue;
    ChainWriter writer{chain};
    const uint8_t byte = 0x5a;
    (void)writer.write({&byte, 1});
    ++handled;
    return writer.written();
  }
  void reset() override { ++resets; }
  bool queues_are_independent() const override { return independent; }

  void set_hold(bool value) {
    std::lock_guard lock{mutex_};
    hold = value;
    changed_.notify_all();
  }
  bool wait_started(int count, std::chrono::milliseconds patience = 5s) {
    std::unique_lock lock{mutex_};
    return changed_.wait_for(lock, patience, [&] { return started >= count; });
  }

  std::array<uint8_t, 6> config_{1, 2, 3, 4, 5, 6};
  std::atomic<int>       handled{0}, resets{0}, last_queue{-1};
  bool                   independent = false;  // set before a transport is built on it

 private:
  std::mutex              mutex_;
  std::condition_variable changed_;
  int                     started = 0;
  bool                    hold = false;
};

// The transport has no worker threads by default: each test serves the
// queues itself (serve_once), so "nothing was served" is a fact, not a wait
// that might be too short. MmioTransportWorkerTest has ember's workers, for
// what only threads can show.
class MmioTransportTest : public ::testing::Test {
 protected:
  explicit MmioTransportTest(QueueService::Mode mode = QueueService::Mode::kCallerServes) : mode_{mode} {}
  uint32_t read32(uint64_t offset) { return registers_.read32(offset); }
  void     write32(uint64_t offset, uint32_t value) { registers_.write32(offset, value); }
  void     negotiate(uint64_t features) { registers_.negotiate(features); }
  void     set_up_queue(uint16_t index, const QueueLayout& layout) { registers_.set_up_queue(index, layout); }
  // The whole driver start-up of §3.1.1 with queue 0 at driver_'s layout.
  void start() {
    negotiate(kFeatureVersion1);
    set_up_queue(0, driver_.layout());
    write32(0x070, 1 | 2 | 8 | 4);
    ASSERT_EQ(read32(0x070), 1u | 2 | 8 | 4);
  }
  void notify(uint16_t queue) { write32(0x050, queue); }
  // Offers one request (a 4-byte device-writable buffer) on `driver`'s ring
  // and notifies queue `index`.
  void offer_one(FakeDriver& driver, uint16_t index = 0) {
    driver.set_descriptor(0, kBuffer, 4, kWrite);
    driver.make_available(0);
    notify(index);
  }
  // Whether `driver`'s used index reaches `count`: after one round of
  // service without workers, within 5 s with them.
  bool served(const FakeDriver& driver, uint16_t queue, uint16_t count) {
    if (mode_ == QueueService::Mode::kWorkerThreads) return wait_for([&] { return driver.used_index() == count; });
    transport_.queue_service().serve_once(queue);
    return driver.used_index() == count;
  }
  // After a reset: the driver starts the device again on fresh rings, and a
  // request there is served.
  void expect_served_after_restart() {
    FakeDriver fresh{memory_, 8, 0x400000};
    negotiate(kFeatureVersion1);
    set_up_queue(0, fresh.layout());
    write32(0x070, 1 | 2 | 8 | 4);
    offer_one(fresh);
    EXPECT_TRUE(served(fresh, 0, 1));
  }
  const QueueService::Mode mode_;
  GuestMemory   memory_ = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  EchoDevice    device_;
  RecordingLine line_;
  MmioTransport transport_{memory_, device_, line_, mode_};
  FakeDriver    driver_{memory_, 8};
  testing::MmioRegisters registers_{transport_};
};

class MmioTransportWorkerTest : public MmioTransportTest {
 protected:
  MmioTransportWorkerTest() : MmioTransportTest{QueueService::Mode::kWorkerThreads} {}
};

TEST_F(MmioTransportTest, IdentifiesAsVersion2DeviceOfItsType) {
  EXPECT_EQ(read32(0x000), 0x74726976u);
  EXPECT_EQ(read32(0x004), 2u);
  EXPECT_EQ(read32(0x008), 42u);
}

TEST_F(MmioTransportTest, OffersDeviceFeaturesPlusVersion1EventIndexAndIndirect) {
  write32(0x014, 0);
  EXPECT_EQ(read32(0x010), (1u << 3) | (1u << 28) | (1u << 29));
  write32(0x014, 1);
  EXPECT_EQ(read32(0x010), 1u);  // VIRTIO_F_VERSION_1 is bit 32
  write32(0x014, 7);
  EXPECT_EQ(read32(0x010), 0u);
}

TEST_F(MmioTransportTest, FeaturesOkRefusedWithoutVersion1) {
  negotiate(1u << 3);
  EXPECT_EQ(read32(0x070) & 8, 0u);
}

TEST_F(MmioTransportTest, FeaturesOkRefusedForFeaturesNotOffered) {
  negotiate(kFeatureVersion1 | (1u << 5));
  EXPECT_EQ(read32(0x070) & 8, 0u);
}

TEST_F(MmioTransportTest, DriverOkWithoutFeaturesOkIsIgnored) {
  write32(0x070, 1 | 2);
  write32(0x070, 1 | 2 | 4);
  EXPECT_EQ(read32(0x070), 1u | 2);
}

TEST_F(MmioTransportTest, QueueNumMaxIsZeroForQueuesThatDoNotExist) {
  write32(0x030, 1);
  EXPECT_EQ(read32(0x034), 16u);
  write32(0x030, 2);
  EXPECT_EQ(read32(0x034), 0u);
  write32(0x030, 0xffffffff);
  EXPECT_EQ(read32(0x034), 0u);
  write32(0x038, 8);  // writes for a queue that does not exist are dropped
  write32(0x044, 1);
  EXPECT_EQ(read32(0x044), 0u);
}

TEST_F(MmioTransportTest, ServesNotifiedQueueAndRaisesLevelInterruptUntilAcknowledged) {
  start();
  offer_one(driver_);
  ASSERT_TRUE(served(driver_, 0, 1));
  EXPECT_EQ(driver_.used_length(0), 1u);
  EXPECT_EQ(memory_.read_object<uint8_t>(kBuffer), 0x5a);
  ASSERT_TRUE(line_.level.load());
  EXPECT_EQ(read32(0x060), 1u);
  write32(0x064, 1);
  EXPECT_FALSE(line_.level);
  EXPECT_EQ(read32(0x060), 0u);
}

// Whether `eventfd` is signalled, which it then no longer is.
bool take_signal(int eventfd) {
  uint64_t count = 0;
  return ::read(eventfd, &count, sizeof count) == sizeof count;
}

TEST_F(MmioTransportTest, RequestsMadeBeforeDriverOkAreServedAtDriverOk) {
  negotiate(kFeatureVersion1);
  set_up_queue(0, driver_.layout());
  offer_one(driver_);  // before DRIVER_OK: nothing may happen yet
  ASSERT_TRUE(take_signal(transport_.notify_eventfd(0)));
  EXPECT_FALSE(served(driver_, 0, 1));
  EXPECT_EQ(device_.handled, 0);
  write32(0x070, 1 | 2 | 8 | 4);
  EXPECT_TRUE(take_signal(transport_.notify_eventfd(0))) << "DRIVER_OK wakes the queue's worker";
  EXPECT_FALSE(take_signal(transport_.notify_eventfd(1))) << "queue 1 is not in use";
  EXPECT_TRUE(served(driver_, 0, 1));
}

TEST_F(MmioTransportTest, QueueRegistersAreFrozenAfterDriverOk) {
  start();
  write32(0x030, 0);
  write32(0x038, 4);
  write32(0x080, 0x500000);
  write32(0x044, 0);
  EXPECT_EQ(read32(0x044), 1u);
  // The queue still works where it was.
  offer_one(driver_);
  EXPECT_TRUE(served(driver_, 0, 1));
}

TEST_F(MmioTransportTest, BadQueueLayoutAtDriverOkSetsNeedsReset) {
  negotiate(kFeatureVersion1);
  QueueLayout bad = driver_.layout();
  bad.size = 12;  // not a power of two
  set_up_queue(0, bad);
  write32(0x070, 1 | 2 | 8 | 4);
  EXPECT_NE(read32(0x070) & 64, 0u);
  EXPECT_NE(read32(0x060) & 2, 0u) << "needs-reset is announced as a configuration change";
  EXPECT_TRUE(line_.level);
}

TEST_F(MmioTransportTest, QueueSizeAboveMaximumSetsNeedsReset) {
  negotiate(kFeatureVersion1);
  QueueLayout big = driver_.layout();
  big.size = 32;  // QueueNumMax is 16
  set_up_queue(0, big);
  write32(0x070, 1 | 2 | 8 | 4);
  EXPECT_NE(read32(0x070) & 64, 0u);
}

TEST_F(MmioTransportTest, BrokenChainSetsNeedsResetAndResetRecovers) {
  start();
  driver_.set_descriptor(0, kBuffer, 4, kWrite | 1, 0);  // a self-loop
  driver_.make_available(0);
  notify(0);
  transport_.queue_service().serve_once(0);
  ASSERT_NE(read32(0x070) & 64, 0u);
  write32(0x070, 0);
  EXPECT_EQ(read32(0x070), 0u);
  EXPECT_FALSE(line_.level);
  expect_served_after_restart();
}

TEST_F(MmioTransportWorkerTest, ResetWaitsForTheRequestInFlightThenTheDeviceIsReusable) {
  start();
  device_.set_hold(true);
  offer_one(driver_);
  ASSERT_TRUE(device_.wait_started(1));
  auto reset = std::async(std::launch::async, [&] { write32(0x070, 0); });
  EXPECT_EQ(reset.wait_for(50ms), std::future_status::timeout) << "reset must wait for the request in flight";
  device_.set_hold(false);
  reset.get();
  EXPECT_EQ(device_.resets, 1);
  EXPECT_EQ(driver_.used_index(), 1) << "the request in flight was completed, not lost";
  expect_served_after_restart();
}

// Queues a device calls independent get a worker each: a request held on
// queue 0 does not keep queue 1's from starting, and a reset waits for both.
TEST_F(MmioTransportTest, IndependentQueuesAreServedAtOnceAndResetWaitsForAll) {
  EchoDevice device;
  device.independent = true;
  test::RecordingLine line;
  MmioTransport transport{memory_, device, line};
  testing::MmioRegisters registers{transport};
  FakeDriver first{memory_, 8, 0x10000}, second{memory_, 8, 0x40000};
  registers.negotiate(kFeatureVersion1);
  registers.set_up_queue(0, first.layout());
  registers.set_up_queue(1, second.layout());
  registers.write32(0x070, 1 | 2 | 8 | 4);
  device.set_hold(true);
  first.set_descriptor(0, kBuffer, 4, kWrite);
  first.make_available(0);
  registers.write32(0x050, 0);
  second.set_descriptor(0, kBuffer + 0x1000, 4, kWrite);
  second.make_available(0);
  registers.write32(0x050, 1);
  EXPECT_TRUE(device.wait_started(2)) << "queue 1's request must start while queue 0's is held";
  auto reset = std::async(std::launch::async, [&] { registers.write32(0x070, 0); });
  EXPECT_EQ(reset.wait_for(50ms), std::future_status::timeout) << "reset must wait for both requests in flight";
  device.set_hold(false);
  reset.get();
  EXPECT_EQ(first.used_index(), 1);
  EXPECT_EQ(second.used_index(), 1);
}

// Issue 17, bug 1: one queue breaking the device while another queue's
// worker is inside a request. The other queue's ring must outlive that
// request (its worker holds only its own processing mutex), the request
// completes, and nothing more is served on any queue until a reset.
TEST_F(MmioTransportTest, AQueueBreakingWhileAnotherIsInFlightStopsBothSafely) {
  EchoDevice device;
  device.independent = true;
  test::RecordingLine line;
  MmioTransport transport{memory_, device, line};
  testing::MmioRegisters registers{transport};
  FakeDriver first{memory_, 8, 0x10000}, second{memory_, 8, 0x40000};
  registers.negotiate(kFeatureVersion1);
  registers.set_up_queue(0, first.layout());
  registers.set_up_queue(1, second.layout());
  registers.write32(0x070, 1 | 2 | 8 | 4);
  device.set_hold(true);
  second.set_descriptor(0, kBuffer + 0x1000, 4, kWrite);
  second.set_descriptor(1, kBuffer + 0x2000, 4, kWrite);
  second.make_available(0);
  second.make_available(1);
  registers.write32(0x050, 1);
  ASSERT_TRUE(device.wait_started(1)) << "queue 1's first request is in flight";
  first.set_descriptor(0, kBuffer, 4, kWrite | 1, 0);  // a self-loop
  first.make_available(0);
  registers.write32(0x050, 0);
  ASSERT_TRUE(wait_for([&] { return (registers.read32(0x070) & 64) != 0; })) << "NEEDS_RESET";
  device.set_hold(false);
  EXPECT_TRUE(wait_for([&] { return second.used_index() == 1; })) << "the request in flight completes";
  // Serving queue 1 from here, under its processing mutex as its worker
  // does, must serve nothing more before a reset.
  transport.queue_service().serve_once(1);
  EXPECT_EQ(second.used_index(), 1) << "nothing more is served before a reset";
  EXPECT_EQ(device.handled, 1);
  registers.write32(0x070, 0);
  EXPECT_EQ(registers.read32(0x070), 0u);
}

TEST_F(MmioTransportWorkerTest, QueuesOfOneWorkerAreServedOneRequestAtATime) {
  negotiate(kFeatureVersion1);
  set_up_queue(0, driver_.layout());
  FakeDriver second{memory_, 8, 0x40000};
  set_up_queue(1, second.layout());
  write32(0x070, 1 | 2 | 8 | 4);
  device_.set_hold(true);
  offer_one(driver_, 0);
  ASSERT_TRUE(device_.wait_started(1));
  second.set_descriptor(0, kBuffer + 0x1000, 4, kWrite);
  second.make_available(0);
  notify(1);
  EXPECT_FALSE(device_.wait_started(2, 100ms)) << "one worker: queue 1 waits for queue 0's request";
  device_.set_hold(false);
  EXPECT_TRUE(wait_for([&] { return second.used_index() == 1; }));
}

TEST_F(MmioTransportTest, NotifyForMissingQueueAndNotifyFloodsAreHarmless) {
  start();
  notify(2);
  notify(0xffff);
  driver_.set_descriptor(0, kBuffer, 4, kWrite);
  driver_.make_available(0);
  for (int i = 0; i < 10000; ++i) notify(0);
  ASSERT_TRUE(served(driver_, 0, 1));
  EXPECT_TRUE(served(driver_, 0, 1));
  EXPECT_EQ(device_.handled, 1) << "a flood of notifies serves each request once";
}

TEST_F(MmioTransportTest, ClearingStatusBitsWithoutResetIsIgnored) {
  write32(0x070, 1 | 2);
  write32(0x070, 1);
  EXPECT_EQ(read32(0x070), 1u | 2);
}

TEST_F(MmioTransportTest, RegistersAnswerOnlyAligned32BitAccesses) {
  for (size_t size : {1u, 2u, 8u}) {
    SCOPED_TRACE(size);
    std::vector<uint8_t> data(size, 0);
    transport_.read({0, 0, 0}, data);
    EXPECT_EQ(data, std::vector<uint8_t>(size, 0));
    std::vector<uint8_t> one(size, 1);
    transport_.write({0x070, 0x070, 0}, one);
    EXPECT_EQ(read32(0x070), 0u);
  }
  std::array<uint8_t, 4> misaligned{};
  transport_.read({2, 2, 0}, misaligned);
  EXPECT_EQ(misaligned, (std::array<uint8_t, 4>{}));
}

TEST_F(MmioTransportTest, ConfigurationReadsAtAnyWidthStayInsideTheSpace) {
  std::array<uint8_t, 2> two{};
  transport_.read({0x104, 0x104, 0}, two);
  EXPECT_EQ(two, (std::array<uint8_t, 2>{5, 6}));
  std::array<uint8_t, 4> straddling{};
  transport_.read({0x104, 0x104, 0}, straddling);  // runs past the 6-byte space
  EXPECT_EQ(straddling, (std::array<uint8_t, 4>{}));
  std::array<uint8_t, 8> beyond{};
  transport_.read({0xff8, 0xff8, 0}, beyond);
  EXPECT_EQ(beyond, (std::array<uint8_t, 8>{}));
  transport_.write({0x100, 0x100, 0}, std::array<uint8_t, 1>{9});
  std::array<uint8_t, 1> first{};
  transport_.read({0x100, 0x100, 0}, first);
  EXPECT_EQ(first[0], 1) << "the configuration space is read-only";
}

TEST_F(MmioTransportTest, SecondQueueIsServedSeparately) {
  negotiate(kFeatureVersion1);
  FakeDriver second{memory_, 8, 0x400000};
  set_up_queue(1, second.layout());
  write32(0x070, 1 | 2 | 8 | 4);
  offer_one(second, 1);
  EXPECT_FALSE(served(second, 0, 1)) << "queue 0's service leaves queue 1 alone";
  ASSERT_TRUE(served(second, 1, 1));
  EXPECT_EQ(device_.last_queue, 1);
}

}  // namespace
}  // namespace ember::virtio
