// virtio-net (virtio 1.2 §5.1) behind the virtio-mmio transport, with a
// SOCK_SEQPACKET socket standing in for the TAP device (one packet per read
// and write): frames go out whole, received packets spread over mergeable
// buffers published together, packets wait for buffers, and packets that
// fit no buffer are dropped without stalling the queue.
#include "virtio/net_device.h"

#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

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

struct SocketPair {
  SocketPair() {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, ends) != 0) std::abort();
    device = FileDescriptor{ends[0]};
    host = FileDescriptor{ends[1]};
  }
  FileDescriptor device, host;
};

class NetDeviceTest : public ::testing::Test {
 protected:
  explicit NetDeviceTest(Tap::Reader reader = ::read)
      : device_{Tap::adopt(std::move(sockets_.device), "test0", reader), {0x52, 0x54, 0, 1, 2, 3}} {}
  void start(uint64_t features) {
    registers_.negotiate(kFeatureVersion1 | features);
    registers_.set_up_queue(NetDevice::kReceiveQueue, receive_.layout());
    registers_.set_up_queue(NetDevice::kTransmitQueue, transmit_.layout());
    registers_.driver_ok();
    ASSERT_EQ(registers_.read32(0x070), 1u | 2 | 4 | 8);
  }
  void offer_input_buffer(uint16_t slot, uint32_t length) {
    receive_.set_descriptor(slot, input_buffer(slot), length, kWrite);
    receive_.make_available(slot);
    registers_.notify(NetDevice::kReceiveQueue);
  }
  // One round of what a worker does when woken for `queue`.
  void serve(uint16_t queue) { transport_.queue_service().serve_once(queue); }
  static uint64_t input_buffer(uint16_t slot) { return 0x200000 + 0x10000ull * slot; }
  // A packet from the host: a 12-byte header (zero) and `frame_bytes` of frame.
  std::vector<uint8_t> send_from_host(size_t frame_bytes, uint8_t fill) {
    std::vector<uint8_t> packet(Tap::kHeaderSize + frame_bytes, fill);
    std::fill(packet.begin(), packet.begin() + Tap::kHeaderSize, 0);
    EXPECT_EQ(::write(sockets_.host.get(), packet.data(), packet.size()), static_cast<ssize_t>(packet.size()));
    return packet;
  }
  std::vector<uint8_t> guest_bytes(uint64_t address, size_t length) {
    std::vector<uint8_t> bytes(length);
    EXPECT_TRUE(memory_.read(address, bytes));
    return bytes;
  }

  GuestMemory            memory_ = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  SocketPair             sockets_;
  NetDevice              device_;
  test::RecordingLine    line_;
  // No worker threads: each test serves the queues itself (serve()).
  MmioTransport          transport_{memory_, device_, line_, QueueService::Mode::kCallerServes};
  testing::MmioRegisters registers_{transport_};
  FakeDriver             receive_{memory_, 8, 0x10000};
  FakeDriver             transmit_{memory_, 8, 0x80000};
};

TEST_F(NetDeviceTest, ConfigurationHoldsTheMacAndLinkUp) {
  EXPECT_EQ(registers_.read32(0x008), 1u);
  std::array<uint8_t, 8> config{};
  transport_.read({0x100, 0x100, 0}, config);
  EXPECT_EQ(config, (std::array<uint8_t, 8>{0x52, 0x54, 0, 1, 2, 3, 1, 0}));
}

TEST_F(NetDeviceTest, TransmitSendsHeaderAndFrameAsOnePacket) {
  start(0);
  std::vector<uint8_t> header(Tap::kHeaderSize, 0), frame(60, 0xab);
  ASSERT_TRUE(memory_.write(0x300000, header));
  ASSERT_TRUE(memory_.write(0x301000, frame));
  transmit_.set_descriptor(0, 0x300000, Tap::kHeaderSize, kNext, 1);
  transmit_.set_descriptor(1, 0x301000, 60, 0);
  transmit_.make_available(0);
  registers_.notify(NetDevice::kTransmitQueue);
  serve(NetDevice::kTransmitQueue);
  ASSERT_EQ(transmit_.used_index(), 1);
  std::vector<uint8_t> packet(200);
  ASSERT_EQ(::read(sockets_.host.get(), packet.data(), packet.size()), 72);
  EXPECT_EQ(packet[Tap::kHeaderSize], 0xab);
  EXPECT_EQ(packet[71], 0xab);
}

TEST_F(NetDeviceTest, TransmitBufferShorterThanTheHeaderIsDropped) {
  start(0);
  transmit_.set_descriptor(0, 0x300000, 4, 0);
  transmit_.make_available(0);
  registers_.notify(NetDevice::kTransmitQueue);
  serve(NetDevice::kTransmitQueue);
  ASSERT_EQ(transmit_.used_index(), 1);
  std::array<uint8_t, 16> packet{};
  EXPECT_LT(::read(sockets_.host.get(), packet.data(), packet.size()), 0);  // nothing was sent
}

TEST_F(NetDeviceTest, PacketSpreadsOverMergeableBuffersPublishedTogether) {
  start(NetDevice::kMergeableReceiveBuffers);
  for (uint16_t slot = 0; slot < 3; ++slot) offer_input_buffer(slot, 2048);
  const auto packet = send_from_host(3000, 0x77);
  serve(NetDevice::kReceiveQueue);
  ASSERT_EQ(receive_.used_index(), 2);
  EXPECT_EQ(receive_.used_length(0), 2048u);
  EXPECT_EQ(receive_.used_length(1), packet.size() - 2048);
  const auto first = guest_bytes(input_buffer(static_cast<uint16_t>(receive_.used_id(0))), 2048);
  EXPECT_EQ(first[10], 2);  // num_buffers (§5.1.6.4.2)
  EXPECT_EQ(first[11], 0);
  EXPECT_EQ(first[2047], 0x77);
  EXPECT_TRUE(line_.level);
}

TEST_F(NetDeviceTest, WithoutMergeableBuffersNumBuffersIsOne) {
  start(0);
  offer_input_buffer(0, 2048);
  send_from_host(100, 0x11);
  serve(NetDevice::kReceiveQueue);
  ASSERT_EQ(receive_.used_index(), 1);
  EXPECT_EQ(receive_.used_length(0), 112u);
  EXPECT_EQ(guest_bytes(input_buffer(0), 12)[10], 1);
}

TEST_F(NetDeviceTest, PacketWaitsForABufferThenArrivesWhole) {
  start(NetDevice::kMergeableReceiveBuffers);
  send_from_host(500, 0x22);
  serve(NetDevice::kReceiveQueue);
  EXPECT_EQ(receive_.used_index(), 0);
  offer_input_buffer(0, 2048);
  serve(NetDevice::kReceiveQueue);
  ASSERT_EQ(receive_.used_index(), 1);
  EXPECT_EQ(receive_.used_length(0), 512u);
}

TEST_F(NetDeviceTest, PacketTooBigForTheBufferIsDroppedAndTheBufferServesTheNext) {
  start(0);  // no mergeable buffers: a packet must fit one buffer
  offer_input_buffer(0, 256);
  send_from_host(1000, 0x33);
  send_from_host(100, 0x44);
  serve(NetDevice::kReceiveQueue);
  ASSERT_EQ(receive_.used_index(), 1);
  EXPECT_EQ(receive_.used_length(0), 112u);
  EXPECT_EQ(guest_bytes(input_buffer(0), 13)[12], 0x44);
}

// tun's read returns a packet's whole length even when it copied only what
// fit (issue 18, item 14); a socket never does, so this stand-in reports
// one byte more than the buffer for packets whose frame starts with 0xEE.
ssize_t read_like_tun_truncating(int fd, void* buffer, size_t length) {
  const ssize_t got = ::read(fd, buffer, length);
  if (got > static_cast<ssize_t>(Tap::kHeaderSize) && static_cast<uint8_t*>(buffer)[Tap::kHeaderSize] == 0xEE) {
    return static_cast<ssize_t>(length) + 1;
  }
  return got;
}

class TunLikeNetDeviceTest : public NetDeviceTest {
 protected:
  TunLikeNetDeviceTest() : NetDeviceTest(read_like_tun_truncating) {}
};

TEST_F(TunLikeNetDeviceTest, AFrameLongerThanTheBufferIsDroppedAndTheNextArrives) {
  start(NetDevice::kMergeableReceiveBuffers);
  send_from_host(100, 0xEE);
  send_from_host(100, 0x11);
  offer_input_buffer(0, 0x1000);
  serve(NetDevice::kReceiveQueue);
  ASSERT_EQ(receive_.used_index(), 1) << "the frame after the over-long one never arrived";
  EXPECT_EQ(receive_.used_length(0), Tap::kHeaderSize + 100);
  EXPECT_EQ(guest_bytes(input_buffer(0) + Tap::kHeaderSize, 100), std::vector<uint8_t>(100, 0x11))
      << "the over-long frame was delivered";
}

TEST_F(NetDeviceTest, TooFewMergeableBuffersKeepThePacketUntilMoreArrive) {
  start(NetDevice::kMergeableReceiveBuffers);
  offer_input_buffer(0, 1024);
  send_from_host(1500, 0x55);
  serve(NetDevice::kReceiveQueue);
  EXPECT_EQ(receive_.used_index(), 0);  // one buffer is not enough: it goes back to the ring
  offer_input_buffer(1, 1024);
  serve(NetDevice::kReceiveQueue);
  ASSERT_EQ(receive_.used_index(), 2);
  EXPECT_EQ(receive_.used_id(0), 0u);
  EXPECT_EQ(receive_.used_id(1), 1u);
  EXPECT_EQ(receive_.used_length(0) + receive_.used_length(1), 1512u);
}

}  // namespace
}  // namespace ember::virtio
