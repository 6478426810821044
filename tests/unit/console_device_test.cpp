// virtio-console (virtio 1.2 §5.3) behind the virtio-mmio transport: guest
// output reaches the console in order; host input is read into the
// driver's receive buffers only while there are buffers, in order, and
// waits on the host side otherwise; a broken receive ring needs a reset.
#include "virtio/console_device.h"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <mutex>
#include <string>

#include "memory/memory_map.h"
#include "unit/interrupt_fakes.h"
#include "unit/virtio_fake_driver.h"
#include "unit/virtio_mmio_registers.h"
#include "virtio/mmio_transport.h"

namespace ember::virtio {
namespace {

using testing::FakeDriver;
using testing::kNext;
using testing::kWrite;

class RecordingOutput final : public ConsoleOutput {
 public:
  void write(std::span<const uint8_t> bytes) override {
    std::lock_guard lock{mutex_};
    text_.append(bytes.begin(), bytes.end());
  }
  std::string text() {
    std::lock_guard lock{mutex_};
    return text_;
  }

 private:
  std::mutex  mutex_;
  std::string text_;
};

int make_pipe(int& write_end) {
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) std::abort();
  write_end = ends[1];
  return ends[0];
}

class ConsoleDeviceTest : public ::testing::Test {
 protected:
  ~ConsoleDeviceTest() override {
    if (input_write_ >= 0) ::close(input_write_);
  }
  void start() {
    registers_.negotiate(kFeatureVersion1);
    registers_.set_up_queue(ConsoleDevice::kReceiveQueue, receive_.layout());
    registers_.set_up_queue(ConsoleDevice::kTransmitQueue, transmit_.layout());
    registers_.driver_ok();
    ASSERT_EQ(registers_.read32(0x070), 1u | 2 | 4 | 8);
  }
  void type(const std::string& text) const { ASSERT_EQ(::write(input_write_, text.data(), text.size()), static_cast<ssize_t>(text.size())); }
  // Offers receive buffer `slot` (`length` bytes at its own address).
  void offer_input_buffer(uint16_t slot, uint32_t length) {
    receive_.set_descriptor(slot, input_buffer(slot), length, kWrite);
    receive_.make_available(slot);
    registers_.notify(ConsoleDevice::kReceiveQueue);
  }
  // One round of what a worker does when woken for `queue`.
  void serve(uint16_t queue) { transport_.queue_service().serve_once(queue); }
  static uint64_t input_buffer(uint16_t slot) { return 0x200000 + 0x1000ull * slot; }
  std::string received(uint16_t used_slot) {
    const uint32_t id = receive_.used_id(used_slot);
    std::string text(receive_.used_length(used_slot), '\0');
    EXPECT_TRUE(memory_.read(input_buffer(static_cast<uint16_t>(id)), {reinterpret_cast<uint8_t*>(text.data()), text.size()}));
    return text;
  }

  GuestMemory            memory_ = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  int                    input_write_ = -1;
  FileDescriptor         input_{make_pipe(input_write_)};
  RecordingOutput        output_;
  ConsoleDevice          device_{output_, input_.get()};
  test::RecordingLine    line_;
  // No worker threads: each test serves the queues itself (serve()), so
  // "nothing happened" is a fact, not a wait that might be too short.
  MmioTransport          transport_{memory_, device_, line_, QueueService::Mode::kCallerServes};
  testing::MmioRegisters registers_{transport_};
  FakeDriver             receive_{memory_, 8, 0x10000};
  FakeDriver             transmit_{memory_, 8, 0x80000};
};

TEST_F(ConsoleDeviceTest, IsDeviceType3WithTwoQueues) {
  EXPECT_EQ(registers_.read32(0x008), 3u);
  registers_.write32(0x030, 1);
  EXPECT_GT(registers_.read32(0x034), 0u);
  registers_.write32(0x030, 2);
  EXPECT_EQ(registers_.read32(0x034), 0u);
}

TEST_F(ConsoleDeviceTest, TransmitWritesEveryReadableByteInOrder) {
  start();
  const std::string first = "hello, ", second = "console\n";
  ASSERT_TRUE(memory_.write(0x300000, {reinterpret_cast<const uint8_t*>(first.data()), first.size()}));
  ASSERT_TRUE(memory_.write(0x301000, {reinterpret_cast<const uint8_t*>(second.data()), second.size()}));
  transmit_.set_descriptor(0, 0x300000, static_cast<uint32_t>(first.size()), kNext, 1);
  transmit_.set_descriptor(1, 0x301000, static_cast<uint32_t>(second.size()), 0);
  transmit_.make_available(0);
  registers_.notify(ConsoleDevice::kTransmitQueue);
  serve(ConsoleDevice::kTransmitQueue);
  ASSERT_EQ(transmit_.used_index(), 1);
  EXPECT_EQ(output_.text(), "hello, console\n");
  EXPECT_EQ(transmit_.used_length(0), 0u);  // the device wrote nothing into it
  EXPECT_TRUE(line_.level);
}

TEST_F(ConsoleDeviceTest, InputTypedBeforeAnyBufferWaitsForOne) {
  start();
  type("early");
  serve(ConsoleDevice::kReceiveQueue);
  EXPECT_EQ(receive_.used_index(), 0);
  offer_input_buffer(0, 64);
  serve(ConsoleDevice::kReceiveQueue);
  ASSERT_EQ(receive_.used_index(), 1);
  EXPECT_EQ(received(0), "early");
}

TEST_F(ConsoleDeviceTest, BufferOfferedBeforeInputIsFilledWhenInputArrives) {
  start();
  offer_input_buffer(0, 64);
  serve(ConsoleDevice::kReceiveQueue);
  EXPECT_EQ(receive_.used_index(), 0);  // nothing to read: the buffer stays the driver's
  EXPECT_FALSE(line_.level);
  type("late\n");
  serve(ConsoleDevice::kReceiveQueue);
  ASSERT_EQ(receive_.used_index(), 1);
  EXPECT_EQ(received(0), "late\n");
  EXPECT_TRUE(line_.level);
}

TEST_F(ConsoleDeviceTest, InputLongerThanTheBuffersFillsThemInOrderAndTheRestWaits) {
  start();
  offer_input_buffer(0, 4);
  offer_input_buffer(1, 4);
  type("0123456789");
  serve(ConsoleDevice::kReceiveQueue);
  ASSERT_EQ(receive_.used_index(), 2);
  EXPECT_EQ(received(0) + received(1), "01234567");
  offer_input_buffer(2, 4);
  serve(ConsoleDevice::kReceiveQueue);
  ASSERT_EQ(receive_.used_index(), 3);
  EXPECT_EQ(received(2), "89");
}

TEST_F(ConsoleDeviceTest, InputEndingLeavesLaterBuffersUnused) {
  start();
  type("last");
  ::close(input_write_);
  input_write_ = -1;
  offer_input_buffer(0, 64);
  serve(ConsoleDevice::kReceiveQueue);
  ASSERT_EQ(receive_.used_index(), 1);
  EXPECT_EQ(received(0), "last");
  offer_input_buffer(1, 64);
  serve(ConsoleDevice::kReceiveQueue);
  EXPECT_EQ(receive_.used_index(), 1);
}

TEST_F(ConsoleDeviceTest, BrokenReceiveRingSetsNeedsReset) {
  start();
  receive_.set_descriptor(0, input_buffer(0), 4, kWrite | kNext, 0);  // a self-loop
  receive_.make_available(0);
  registers_.notify(ConsoleDevice::kReceiveQueue);
  type("x");
  serve(ConsoleDevice::kReceiveQueue);
  ASSERT_NE(registers_.read32(0x070) & 64, 0u);
  EXPECT_EQ(receive_.used_index(), 0);
  EXPECT_EQ(registers_.read32(0x060) & 2, 2u);  // configuration change interrupt (§2.1.2)
}

}  // namespace
}  // namespace ember::virtio
