#include "virtio/mmio_transport.h"

#include <cstring>
#include <string>

#include "base/log.h"

namespace ember::virtio {
namespace {

// Register offsets (virtio 1.2 §4.2.2, table "MMIO Device Register Layout").
enum Register : uint64_t {
  kMagicValue = 0x000,
  kVersion = 0x004,
  kDeviceId = 0x008,
  kVendorId = 0x00c,
  kDeviceFeatures = 0x010,
  kDeviceFeaturesSel = 0x014,
  kDriverFeatures = 0x020,
  kDriverFeaturesSel = 0x024,
  kQueueSel = 0x030,
  kQueueNumMax = 0x034,
  kQueueNum = 0x038,
  kQueueReady = 0x044,
  kQueueNotify = 0x050,
  kInterruptStatus = 0x060,
  kInterruptAck = 0x064,
  kStatus = 0x070,
  kQueueDescLow = 0x080,
  kQueueDescHigh = 0x084,
  kQueueDriverLow = 0x090,
  kQueueDriverHigh = 0x094,
  kQueueDeviceLow = 0x0a0,
  kQueueDeviceHigh = 0x0a4,
  kShmSel = 0x0ac,
  kShmLenLow = 0x0b0,
  kShmLenHigh = 0x0b4,
  kShmBaseLow = 0x0b8,
  kShmBaseHigh = 0x0bc,
  kConfigGeneration = 0x0fc,
  kConfig = 0x100,
};

constexpr uint32_t kMagic = 0x74726976;  // "virt"
constexpr uint32_t kVendor = 0x52424d45; // "EMBR"


}  // namespace

MmioTransport::MmioTransport(const GuestMemory& memory, VirtioDevice& device, InterruptLine& line, QueueService::Mode mode)
    : Transport{memory, device, mode}, line_{line} {
  start_workers();
}

MmioTransport::~MmioTransport() { stop_workers(); }

void MmioTransport::read(const Access& access, std::span<uint8_t> data) {
  if (access.offset >= kConfig) {
    // Device-specific configuration: any width, bounded by its size (§4.2.2.2).
    (void)read_device_config(access.offset - kConfig, data);
    return;
  }
  // §4.2.2.2: registers are read 32 bits wide and aligned.
  if (data.size() != 4 || access.offset % 4 != 0) {
    EMBER_GUEST_WARNING(std::string(device_.name()) + ": register read of " + std::to_string(data.size()) + " bytes at offset " +
                        std::to_string(access.offset) + " is not 32-bit and aligned");
    return;
  }
  const uint32_t value = read_register(access.offset);
  std::memcpy(data.data(), &value, 4);
}

uint32_t MmioTransport::read_register(uint64_t offset) {
  std::lock_guard lock{mutex_};
  const bool have_queue = queue_select_ < queues_.size();
  switch (offset) {
    case kMagicValue: return kMagic;
    case kVersion: return 2;
    case kDeviceId: return device_.device_type();
    case kVendorId: return kVendor;
    case kDeviceFeatures: return device_features_locked();
    case kQueueNumMax: return have_queue ? device_.max_queue_size() : 0;  // 0: no such queue
    case kQueueReady: return have_queue && queues_[queue_select_].ready ? 1 : 0;
    case kInterruptStatus: return interrupt_status_;
    case kStatus: return status_;
    case kShmLenLow: case kShmLenHigh: case kShmBaseLow: case kShmBaseHigh: return 0xffffffff;  // no shared memory regions
    case kConfigGeneration: return 0;  // the configuration never changes
    default:
      EMBER_GUEST_WARNING(std::string(device_.name()) + ": read of write-only or unknown register at offset " + std::to_string(offset));
      return 0;
  }
}

void MmioTransport::write(const Access& access, std::span<const uint8_t> data) {
  if (access.offset >= kConfig) {
    EMBER_GUEST_WARNING(std::string(device_.name()) + ": its configuration space is read-only");
    return;
  }
  if (data.size() != 4 || access.offset % 4 != 0) {
    EMBER_GUEST_WARNING(std::string(device_.name()) + ": register write of " + std::to_string(data.size()) + " bytes at offset " +
                        std::to_string(access.offset) + " is not 32-bit and aligned");
    return;
  }
  uint32_t value;
  std::memcpy(&value, data.data(), 4);
  if (access.offset == kStatus) {
    write_status(value);
    return;
  }
  if (access.offset == kQueueNotify) {
    notify(value);  // KVM's ioeventfd normally takes these (transport.h)
    return;
  }
  write_register(access.offset, value);
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
  std::lock_guard lock{mutex_};
  switch (offset) {
    case kDeviceFeaturesSel: device_features_select_ = value; return;
    case kDriverFeaturesSel: driver_features_select_ = value; return;
    case kDriverFeatures: write_driver_features_locked(value); return;
    case kQueueSel: queue_select_ = value; return;
    case kInterruptAck:
      interrupt_status_ &= ~value;
      line_.set_level(interrupt_status_ != 0);
      return;
    case kShmSel: return;
    case kQueueReady:
      if (Queue* queue = selected_queue_for_write_locked("QueueReady", true)) queue->ready = (value & 1) != 0;
      return;
    case kQueueNum: write_queue_field_locked(QueueField::kSize, value); return;
    case kQueueDescLow: write_queue_field_locked(QueueField::kDescriptorLow, value); return;
    case kQueueDescHigh: write_queue_field_locked(QueueField::kDescriptorHigh, value); return;
    case kQueueDriverLow: write_queue_field_locked(QueueField::kDriverLow, value); return;
    case kQueueDriverHigh: write_queue_field_locked(QueueField::kDriverHigh, value); return;
    case kQueueDeviceLow: write_queue_field_locked(QueueField::kDeviceLow, value); return;
    case kQueueDeviceHigh: write_queue_field_locked(QueueField::kDeviceHigh, value); return;
    default:
      EMBER_GUEST_WARNING(std::string(device_.name()) + ": write to read-only or unknown register at offset " + std::to_string(offset));
      return;
  }
}

void MmioTransport::signal_used_buffers_locked(uint16_t) { raise_locked(kUsedBufferInterrupt); }

void MmioTransport::signal_config_change_locked() { raise_locked(kConfigChangeInterrupt); }

Result<void> MmioTransport::restore_transport_locked(snapshot::SectionReader& in) {
  const uint32_t status = in.u32();
  if ((status & ~uint32_t{kUsedBufferInterrupt | kConfigChangeInterrupt}) != 0) in.refuse("has an unknown interrupt status bit");
  if (!in.ok()) return in.finish();
  interrupt_status_ = status;
  line_.set_level(interrupt_status_ != 0);
  return {};
}

void MmioTransport::reset_transport_locked() {
  interrupt_status_ = 0;
  line_.set_level(false);
}

void MmioTransport::raise_locked(uint32_t reason) {
  interrupt_status_ |= reason;
  line_.set_level(true);
}

}  // namespace ember::virtio
