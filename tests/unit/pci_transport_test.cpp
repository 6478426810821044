// The virtio-pci transport (virtio 1.2 §4.1) driven as a driver would, via
// the PCI bus: identification, the virtio capabilities, negotiation and
// queue set-up through the common configuration, notifications, MSI-X
// vectors (masked ones held in the PBA) and the field-width rules.
#include "virtio/pci_transport.h"

#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <mutex>
#include <vector>

#include "memory/memory_map.h"
#include "unit/interrupt_fakes.h"
#include "unit/virtio_fake_driver.h"

namespace ember::virtio {
namespace {

using testing::FakeDriver;
using testing::kWrite;

constexpr uint64_t kBar = PciBus::kWindowBase;
constexpr uint64_t kBuffer = 0x100000;

// Answers every request with one byte, 0x7e.
class OneByteDevice final : public VirtioDevice {
 public:
  std::string_view         name() const override { return "one-byte"; }
  uint32_t                 device_type() const override { return 2; }
  uint64_t                 device_features() const override { return 1u << 5; }
  uint16_t                 queue_count() const override { return 2; }
  uint16_t                 max_queue_size() const override { return 16; }
  std::span<const uint8_t> config_space() const override { return config_; }
  uint32_t handle(uint16_t, const DescriptorChain& chain) override {
    ChainWriter writer{chain};
    const uint8_t byte = 0x7e;
    (void)writer.write({&byte, 1});
    return writer.written();
  }
  std::array<uint8_t, 8> config_{8, 7, 6, 5, 4, 3, 2, 1};
};

class PciTransportTest : public ::testing::Test {
 protected:
  PciTransportTest() { slot_ = *bus_.add(transport_); }

  uint32_t config(uint32_t offset, size_t size = 4) {
    select(offset);
    std::vector<uint8_t> data(size);
    bus_.config_ports().read({4 + (offset & 3), 0, 0}, data);
    uint32_t value = 0;
    std::memcpy(&value, data.data(), size);
    return value;
  }
  void set_config(uint32_t offset, uint32_t value, size_t size = 4) {
    select(offset);
    std::vector<uint8_t> data(size);
    std::memcpy(data.data(), &value, size);
    bus_.config_ports().write({4 + (offset & 3), 0, 0}, data);
  }
  uint32_t bar(uint64_t offset, size_t size = 4) {
    std::vector<uint8_t> data(size);
    bus_.window().read({0, kBar + offset, 0}, data);
    uint32_t value = 0;
    std::memcpy(&value, data.data(), std::min<size_t>(size, 4));
    return value;
  }
  void set_bar(uint64_t offset, uint32_t value, size_t size = 4) {
    std::vector<uint8_t> data(size);
    std::memcpy(data.data(), &value, size);
    bus_.window().write({0, kBar + offset, 0}, data);
  }
  // The offset of the virtio capability of cfg_type `type`, or 0.
  uint32_t find_capability(uint8_t id, uint8_t type = 0) {
    for (uint32_t at = config(0x34, 1); at != 0; at = config(at + 1, 1)) {
      if (config(at, 1) == id && (type == 0 || config(at + 3, 1) == type)) return at;
    }
    return 0;
  }
  // Memory decoding on, MSI-X enabled with vector v sending (0xfee00000, 0x40 + v).
  void enable_device() {
    set_config(0x04, 0x6, 2);
    const uint32_t msix = find_capability(0x11);
    set_config(msix + 2, 0x8000, 2);
    for (uint16_t v = 0; v < transport_.vector_count(); ++v) {
      set_bar(PciTransport::kMsixTableOffset + 16 * v, 0xfee00000);
      set_bar(PciTransport::kMsixTableOffset + 16 * v + 8, 0x40u + v);
      set_bar(PciTransport::kMsixTableOffset + 16 * v + 12, 0);
    }
  }
  void negotiate() {
    set_bar(0x14, 1, 1);
    set_bar(0x14, 3, 1);
    set_bar(0x08, 1);
    set_bar(0x0c, 1);  // VIRTIO_F_VERSION_1 is bit 32
    set_bar(0x08, 0);
    set_bar(0x0c, 0);
    set_bar(0x14, 3 | 8, 1);
  }
  void set_up_queue(uint16_t index, const QueueLayout& layout, uint16_t vector) {
    set_bar(0x16, index, 2);
    set_bar(0x18, layout.size, 2);
    set_bar(0x1a, vector, 2);
    set_bar(0x20, static_cast<uint32_t>(layout.descriptor_table));
    set_bar(0x24, 0);
    set_bar(0x28, static_cast<uint32_t>(layout.available_ring));
    set_bar(0x2c, 0);
    set_bar(0x30, static_cast<uint32_t>(layout.used_ring));
    set_bar(0x34, 0);
    set_bar(0x1c, 1, 2);
  }
  // The driver's bring-up up to DRIVER_OK with queue `index` on `vector`.
  void start(const FakeDriver& driver, uint16_t index, uint16_t vector) {
    enable_device();
    negotiate();
    set_up_queue(index, driver.layout(), vector);
    set_bar(0x14, 15, 1);
  }
  // Whether queue `queue` was notified (its eventfd signalled), which it
  // then no longer is.
  bool take_notification(uint16_t queue) {
    uint64_t count = 0;
    return ::read(transport_.notify_eventfd(queue), &count, sizeof count) == sizeof count;
  }
  // One round of what a worker does when woken for `queue`; whether
  // `driver`'s used index is then `count`.
  bool served(const FakeDriver& driver, uint16_t queue, uint16_t count) {
    transport_.queue_service().serve_once(queue);
    return driver.used_index() == count;
  }
  void select(uint32_t offset) {
    const uint32_t address = 0x80000000u | slot_ << 11 | (offset & 0xfc);
    std::vector<uint8_t> bytes(4);
    std::memcpy(bytes.data(), &address, 4);
    bus_.config_ports().write({0, 0xcf8, 0}, bytes);
  }

  GuestMemory   memory_ = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  OneByteDevice device_;
  test::RecordingMsi msi_;
  // No worker threads: the tests serve the queues themselves.
  PciTransport  transport_{memory_, device_, msi_, kBar, QueueService::Mode::kCallerServes};
  PciBus        bus_;
  unsigned      slot_ = 0;
};

TEST_F(PciTransportTest, IdentifiesAsAModernVirtioFunction) {
  EXPECT_EQ(config(0x00, 2), 0x1af4u);
  EXPECT_EQ(config(0x02, 2), 0x1042u) << "0x1040 + device type 2";
  EXPECT_EQ(config(0x08, 1), 1u) << "revision 1: not transitional";
  EXPECT_GE(config(0x2e, 2), 0x40u);
  EXPECT_EQ(config(0x3d, 1), 0u) << "no INTx pin: MSI-X only";
  set_config(0x10, 0xffffffff);
  set_config(0x14, 0xffffffff);
  EXPECT_EQ(config(0x10), static_cast<uint32_t>(~(PciTransport::kBarSize - 1)) | 0x4u);
}

TEST_F(PciTransportTest, VirtioCapabilitiesPointIntoBar0) {
  struct Expected {
    uint8_t  type;
    uint64_t offset;
  } expected[] = {{1, PciTransport::kCommonOffset}, {2, PciTransport::kNotifyOffset}, {3, PciTransport::kIsrOffset},
                  {4, PciTransport::kDeviceOffset}, {5, 0}};
  for (const auto& e : expected) {
    SCOPED_TRACE(int{e.type});
    const uint32_t at = find_capability(0x09, e.type);
    ASSERT_NE(at, 0u);
    EXPECT_EQ(config(at + 4, 1), 0u) << "BAR0";
    EXPECT_EQ(config(at + 8), e.offset);
  }
  const uint32_t notify = find_capability(0x09, 2);
  EXPECT_EQ(config(notify + 2, 1), 20u) << "cap_len covers notify_off_multiplier";
  EXPECT_EQ(config(notify + 16), PciTransport::kNotifyMultiplier);
  const uint32_t msix = find_capability(0x11);
  ASSERT_NE(msix, 0u);
  EXPECT_EQ(config(msix + 2, 2) & 0x7ff, 2u) << "three vectors: two queues and the configuration";
  EXPECT_EQ(config(msix + 4), PciTransport::kMsixTableOffset);
  EXPECT_EQ(config(msix + 8), PciTransport::kMsixPbaOffset);
}

TEST_F(PciTransportTest, CommonConfigurationNegotiatesAndReportsQueues) {
  enable_device();
  EXPECT_EQ(bar(0x12, 2), 2u) << "num_queues";
  set_bar(0x00, 1);
  EXPECT_EQ(bar(0x04), 1u) << "VERSION_1 in the high half";
  set_bar(0x00, 0);
  EXPECT_NE(bar(0x04) & (1u << 5), 0u) << "the device's own feature";
  set_bar(0x16, 1, 2);
  EXPECT_EQ(bar(0x18, 2), 16u) << "queue_size starts at the maximum";
  set_bar(0x16, 7, 2);
  EXPECT_EQ(bar(0x18, 2), 0u) << "a queue that does not exist has size 0";
  negotiate();
  EXPECT_EQ(bar(0x14, 1), 11u) << "FEATURES_OK kept";
  EXPECT_EQ(bar(0x2000, 1), 8u) << "device configuration, byte access";
  EXPECT_EQ(bar(0x2004, 4), 0x01020304u);
}

TEST_F(PciTransportTest, UsedBuffersSendTheQueuesVectorAndMaskedVectorsWaitInThePba) {
  FakeDriver driver{memory_, 8};
  start(driver, 1, 1);
  ASSERT_EQ(bar(0x14, 1), 15u) << "DRIVER_OK";

  driver.set_descriptor(0, kBuffer, 4, kWrite);
  driver.make_available(0);
  set_bar(PciTransport::kNotifyOffset + 4, 1, 2);  // queue 1's notify address
  ASSERT_TRUE(take_notification(1));
  EXPECT_FALSE(take_notification(0));
  ASSERT_TRUE(served(driver, 1, 1));
  EXPECT_EQ(driver.used_length(0), 1u);
  EXPECT_EQ(memory_.read_object<uint8_t>(kBuffer).value(), 0x7e);
  ASSERT_EQ(msi_.sent().size(), 1u);
  EXPECT_EQ(msi_.sent()[0], (std::pair<uint64_t, uint32_t>{0xfee00000, 0x41}));
  EXPECT_EQ(bar(PciTransport::kIsrOffset, 1), 1u) << "ISR bit 0, cleared by the read";
  EXPECT_EQ(bar(PciTransport::kIsrOffset, 1), 0u);

  set_bar(PciTransport::kMsixTableOffset + 16 + 12, 1);  // mask vector 1
  driver.set_descriptor(1, kBuffer + 16, 4, kWrite);
  driver.make_available(1);
  set_bar(PciTransport::kNotifyOffset + 4, 1, 2);
  ASSERT_TRUE(served(driver, 1, 2));
  EXPECT_EQ(msi_.sent().size(), 1u) << "masked: nothing sent";
  EXPECT_EQ(bar(PciTransport::kMsixPbaOffset), 2u) << "pending bit 1";
  set_bar(PciTransport::kMsixTableOffset + 16 + 12, 0);
  ASSERT_EQ(msi_.sent().size(), 2u) << "sent on unmask";
  EXPECT_EQ(bar(PciTransport::kMsixPbaOffset), 0u);
}

TEST_F(PciTransportTest, VectorsOutOfRangeReadBackAsNoVector) {
  enable_device();
  set_bar(0x10, 3, 2);
  EXPECT_EQ(bar(0x10, 2), PciTransport::kNoVector);
  set_bar(0x10, 2, 2);
  EXPECT_EQ(bar(0x10, 2), 2u);
  set_bar(0x16, 0, 2);
  set_bar(0x1a, 9, 2);
  EXPECT_EQ(bar(0x1a, 2), PciTransport::kNoVector);
}

TEST_F(PciTransportTest, FieldsAnswerOnlyAtTheirNaturalWidth) {
  enable_device();
  set_bar(0x12, 0x5555, 2);
  EXPECT_EQ(bar(0x12, 2), 2u) << "num_queues is read-only";
  EXPECT_EQ(bar(0x12, 4), 0u) << "a 32-bit read of a 16-bit field";
  set_bar(0x14, 1, 4);
  EXPECT_EQ(bar(0x14, 1), 0u) << "a 32-bit write of the 8-bit status is ignored";
  set_bar(0x16, 1, 1);
  EXPECT_EQ(bar(0x16, 2), 0u);
}

TEST_F(PciTransportTest, QueueRegistersAreFrozenAfterDriverOkAndResetRestoresThem) {
  FakeDriver driver{memory_, 8};
  start(driver, 0, 0);
  set_bar(0x16, 0, 2);
  set_bar(0x18, 4, 2);
  EXPECT_EQ(bar(0x18, 2), 8u) << "frozen";
  set_bar(0x14, 0, 1);  // reset
  EXPECT_EQ(bar(0x14, 1), 0u);
  EXPECT_EQ(bar(0x18, 2), 16u) << "back to the maximum";
  EXPECT_EQ(bar(0x1c, 2), 0u) << "disabled";
  EXPECT_EQ(bar(0x1a, 2), PciTransport::kNoVector);
}

TEST_F(PciTransportTest, PciCfgCapabilityReachesTheBarThroughConfigurationSpace) {
  const uint32_t at = find_capability(0x09, 5);
  set_config(at + 4, 0, 1);
  set_config(at + 8, PciTransport::kDeviceOffset + 4);
  set_config(at + 12, 4);
  EXPECT_EQ(config(at + 16), 0x01020304u) << "device configuration bytes 4-7, memory decoding off or not";
}

}  // namespace
}  // namespace ember::virtio
