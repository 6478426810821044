#include "virtio/pci_transport.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/log.h"
#include "irq/interrupt_message.h"

namespace ember::virtio {
namespace {

constexpr uint16_t kVirtioVendor = 0x1af4;
constexpr uint16_t kModernDeviceBase = 0x1040;   // §4.1.2: 0x1040 + device type
constexpr uint16_t kModernSubsystemId = 0x40;    // §4.1.2.1: 0x40 or higher

// §4.1.4: virtio structure capabilities (PCI vendor-specific, ID 0x09).
constexpr uint8_t kCapabilityVendor = 0x09;
constexpr uint8_t kCommonCfg = 1, kNotifyCfg = 2, kIsrCfg = 3, kDeviceCfg = 4, kPciCfg = 5;

// §4.1.4.3: struct virtio_pci_common_cfg.
enum CommonField : uint64_t {
  kDeviceFeatureSelect = 0x00,
  kDeviceFeature = 0x04,
  kDriverFeatureSelect = 0x08,
  kDriverFeature = 0x0c,
  kConfigMsixVector = 0x10,
  kNumQueues = 0x12,
  kDeviceStatus = 0x14,
  kConfigGeneration = 0x15,
  kQueueSelect = 0x16,
  kQueueSize = 0x18,
  kQueueMsixVector = 0x1a,
  kQueueEnable = 0x1c,
  kQueueNotifyOff = 0x1e,
  kQueueDesc = 0x20,
  kQueueDriver = 0x28,
  kQueueDevice = 0x30,
  kCommonSize = 0x38,
};

// §4.1.3.1: each field is accessed at its natural width, 64-bit fields as
// two 32-bit halves. 0 for an offset that starts no field.
size_t common_width(uint64_t offset) {
  switch (offset) {
    case kDeviceFeatureSelect: case kDeviceFeature: case kDriverFeatureSelect: case kDriverFeature: return 4;
    case kConfigMsixVector: case kNumQueues: case kQueueSelect: case kQueueSize: case kQueueMsixVector:
    case kQueueEnable: case kQueueNotifyOff: return 2;
    case kDeviceStatus: case kConfigGeneration: return 1;
    default: return offset >= kQueueDesc && offset < kCommonSize && offset % 4 == 0 ? 4 : 0;
  }
}

// PCI class codes by virtio device type, as QEMU presents them.
uint32_t class_code(uint32_t device_type) {
  switch (device_type) {
    case 1: return 0x020000;  // network controller, Ethernet
    case 2: return 0x018000;  // mass storage, other
    case 3: return 0x078000;  // communication, other
    default: return 0xff0000; // unassigned class
  }
}

// struct virtio_pci_cap (16 bytes) pointing at [offset, offset + length)
// of BAR0, with `extra` bytes after it.
std::vector<uint8_t> virtio_capability(uint8_t type, uint32_t offset, uint32_t length, size_t extra = 0) {
  std::vector<uint8_t> cap(16 + extra, 0);
  cap[0] = kCapabilityVendor;
  cap[2] = static_cast<uint8_t>(cap.size());  // cap_len
  cap[3] = type;
  cap[4] = 0;  // BAR0
  std::memcpy(&cap[8], &offset, 4);
  std::memcpy(&cap[12], &length, 4);
  return cap;
}

}  // namespace

PciTransport::PciTransport(const GuestMemory& memory, VirtioDevice& device, MsiSender& msi, uint64_t bar_address,
                           QueueService::Mode mode)
    : Transport{memory, device, mode},
      config_{kVirtioVendor, static_cast<uint16_t>(kModernDeviceBase + device.device_type()), class_code(device.device_type()), 1},
      // A vector per queue and one for configuration changes.
      msix_{config_, msi, static_cast<uint16_t>(device.queue_count() + 1u), static_cast<uint32_t>(kMsixTableOffset),
            static_cast<uint32_t>(kMsixPbaOffset)},
      queue_vectors_(device.queue_count(), kNoVector) {
  config_.set_subsystem(kVirtioVendor, kModernSubsystemId);
  config_.set_memory_bar64(bar_address, kBarSize);

  const auto add = [this](const std::vector<uint8_t>& cap, std::vector<uint8_t> writable = {}) {
    writable.resize(cap.size(), 0);
    return config_.add_capability(cap, writable);
  };
  add(virtio_capability(kCommonCfg, kCommonOffset, kCommonSize));
  auto notify = virtio_capability(kNotifyCfg, kNotifyOffset, kNotifyMultiplier * device.queue_count(), 4);
  std::memcpy(&notify[16], &kNotifyMultiplier, 4);
  add(notify);
  add(virtio_capability(kIsrCfg, kIsrOffset, 1));
  add(virtio_capability(kDeviceCfg, kDeviceOffset, static_cast<uint32_t>(std::max<size_t>(device.config_space().size(), 1))));
  // §4.1.4.9: a window into the BAR through configuration space; the
  // driver writes bar, offset and length, then reads or writes the data.
  std::vector<uint8_t> pci_cfg_writable(20, 0);
  pci_cfg_writable[4] = 0xff;
  std::fill(pci_cfg_writable.begin() + 8, pci_cfg_writable.end(), 0xff);
  pci_cfg_capability_ = add(virtio_capability(kPciCfg, 0, 0, 4), pci_cfg_writable);

  for (auto& queue : queues_) queue.layout.size = device.max_queue_size();
  start_workers();
}

PciTransport::~PciTransport() { stop_workers(); }

void PciTransport::config_read(uint32_t offset, std::span<uint8_t> data) {
  if (const auto window = pci_cfg_access(offset, data.size())) {
    std::array<uint8_t, 4> bytes{};
    if (window->length != 0) bar_read(window->bar_offset, std::span{bytes.data(), window->length}, 0);
    std::memcpy(data.data(), bytes.data(), std::min<size_t>(data.size(), 4));
    return;
  }
  std::lock_guard lock{mutex_};
  config_.read(offset, data);
}

void PciTransport::config_write(uint32_t offset, std::span<const uint8_t> data) {
  if (const auto window = pci_cfg_access(offset, data.size())) {
    if (window->length != 0) bar_write(window->bar_offset, data.first(window->length), 0);
    return;
  }
  std::lock_guard lock{mutex_};
  config_.write(offset, data);
  msix_.config_written(offset, data.size());
}

std::optional<PciTransport::PciCfgAccess> PciTransport::pci_cfg_access(uint32_t offset, size_t size) {
  const uint32_t window = pci_cfg_capability_ + 16u;
  if (offset < window || offset >= window + 4) return std::nullopt;
  // §4.1.4.9.1: an access of the capability's length, at its offset in the
  // BAR, made through pci_cfg_data. Anything else reaches nothing.
  std::lock_guard lock{mutex_};
  const uint32_t at = config_.dword(pci_cfg_capability_ + 8u), length = config_.dword(pci_cfg_capability_ + 12u);
  if ((length == 1 || length == 2 || length == 4) && offset == window && size >= length) return PciCfgAccess{at, length};
  EMBER_GUEST_WARNING(std::string(name()) + ": VIRTIO_PCI_CAP_PCI_CFG access that does not match its length; ignored");
  return PciCfgAccess{0, 0};
}

std::optional<PciFunction::Window> PciTransport::decoded_memory() {
  std::lock_guard lock{mutex_};
  if (!config_.memory_enabled()) return std::nullopt;
  return Window{config_.bar_address(), config_.bar_size()};
}

void PciTransport::bar_read(uint64_t offset, std::span<uint8_t> data, uint32_t) {
  std::fill(data.begin(), data.end(), 0);
  if (offset < kCommonOffset + kCommonSize) {
    if (common_width(offset) != data.size()) {
      EMBER_GUEST_WARNING(std::string(name()) + ": common configuration read of " + std::to_string(data.size()) +
                          " bytes at " + std::to_string(offset) + " is not the field's width");
      return;
    }
    std::lock_guard lock{mutex_};
    const uint32_t value = common_read_locked(offset, data.size());
    std::memcpy(data.data(), &value, data.size());
    return;
  }
  std::lock_guard lock{mutex_};
  bar_access_locked(offset, data, false);
}

void PciTransport::bar_write(uint64_t offset, std::span<const uint8_t> data, uint32_t) {
  if (offset < kCommonOffset + kCommonSize) {
    if (common_width(offset) != data.size()) {
      EMBER_GUEST_WARNING(std::string(name()) + ": common configuration write of " + std::to_string(data.size()) +
                          " bytes at " + std::to_string(offset) + " is not the field's width");
      return;
    }
    uint32_t value = 0;
    std::memcpy(&value, data.data(), data.size());
    common_write(offset, data.size(), value);
    return;
  }
  if (offset >= kNotifyOffset && offset < kNotifyOffset + kNotifyMultiplier * queues_.size()) {
    // KVM's ioeventfd normally takes these (header); the address says which queue.
    notify(static_cast<uint32_t>((offset - kNotifyOffset) / kNotifyMultiplier));
    return;
  }
  std::vector<uint8_t> copy(data.begin(), data.end());
  std::lock_guard lock{mutex_};
  bar_access_locked(offset, copy, true);
}

// The ISR, device configuration and MSI-X structures.
void PciTransport::bar_access_locked(uint64_t offset, std::span<uint8_t> data, bool write) {
  const auto warn = [&](const char* what) {
    EMBER_GUEST_WARNING(std::string(name()) + ": " + (write ? "write" : "read") + " of " + std::to_string(data.size()) +
                        " bytes at BAR offset " + std::to_string(offset) + ": " + what);
  };
  if (offset == kIsrOffset && data.size() == 1) {
    if (write) return warn("the ISR is read-only");
    data[0] = isr_;
    isr_ = 0;  // §4.1.4.5: reading clears it
    return;
  }
  if (offset >= kDeviceOffset && offset < kDeviceOffset + 0x1000) {
    if (write) return warn("the device configuration is read-only");
    (void)read_device_config(offset - kDeviceOffset, data);
    return;
  }
  if (const auto msix = msix_.bar_access(offset, data, write)) {
    if (*msix != nullptr) warn(*msix);
    return;
  }
  if (offset >= kNotifyOffset && offset < kNotifyOffset + 0x1000 && !write) return;  // notify reads as zero
  warn("nothing is there");
}

namespace {

// The common configuration's queue fields the Transport keeps for both
// transports, by offset.
std::optional<Transport::QueueField> queue_field(uint64_t offset) {
  using Field = Transport::QueueField;
  switch (offset) {
    case kQueueSize: return Field::kSize;
    case kQueueDesc: return Field::kDescriptorLow;
    case kQueueDesc + 4: return Field::kDescriptorHigh;
    case kQueueDriver: return Field::kDriverLow;
    case kQueueDriver + 4: return Field::kDriverHigh;
    case kQueueDevice: return Field::kDeviceLow;
    case kQueueDevice + 4: return Field::kDeviceHigh;
    default: return std::nullopt;
  }
}

}  // namespace

uint32_t PciTransport::common_read_locked(uint64_t offset, size_t) {
  if (const auto field = queue_field(offset)) return read_queue_field_locked(*field);  // 0: no such queue
  const bool have_queue = have_selected_queue_locked();
  switch (offset) {
    case kDeviceFeatureSelect: return device_features_select_;
    case kDeviceFeature: return device_features_locked();
    case kDriverFeatureSelect: return driver_features_select_;
    case kDriverFeature: return driver_features_locked();
    case kConfigMsixVector: return config_vector_;
    case kNumQueues: return static_cast<uint32_t>(queues_.size());
    case kDeviceStatus: return status_;
    case kConfigGeneration: return 0;  // the configuration never changes
    case kQueueSelect: return queue_select_;
    case kQueueMsixVector: return have_queue ? queue_vectors_[queue_select_] : kNoVector;
    case kQueueEnable: return have_queue && queues_[queue_select_].ready ? 1 : 0;
    case kQueueNotifyOff: return have_queue ? queue_select_ : 0;
    default: return 0;
  }
}

void PciTransport::common_write(uint64_t offset, size_t, uint32_t value) {
  if (offset == kDeviceStatus) {
    write_status(value);  // takes the locks itself
    return;
  }
  std::lock_guard lock{mutex_};
  if (const auto field = queue_field(offset)) {
    write_queue_field_locked(*field, value);
    return;
  }
  switch (offset) {
    case kDeviceFeatureSelect: device_features_select_ = value; return;
    case kDriverFeatureSelect: driver_features_select_ = value; return;
    case kDriverFeature: write_driver_features_locked(value); return;
    case kConfigMsixVector:
      // §4.1.5.1.2: a vector the device cannot use reads back as NO_VECTOR.
      config_vector_ = value < vector_count() ? static_cast<uint16_t>(value) : kNoVector;
      return;
    case kQueueSelect: queue_select_ = value; return;
    case kQueueMsixVector:
      if (selected_queue_for_write_locked("queue_msix_vector", false) != nullptr) {
        queue_vectors_[queue_select_] = value < vector_count() ? static_cast<uint16_t>(value) : kNoVector;
      }
      return;
    case kQueueEnable:
      if (Queue* queue = selected_queue_for_write_locked("queue_enable", true)) {
        // §4.1.4.3.2: the driver must not write 0; a reset disables queues.
        if (value == 1) queue->ready = true;
        else EMBER_GUEST_WARNING(std::string(name()) + ": queue_enable written with " + std::to_string(value) + "; ignored");
      }
      return;
    default:
      EMBER_GUEST_WARNING(std::string(name()) + ": write to read-only common configuration field at " + std::to_string(offset));
      return;
  }
}

bool PciTransport::routes_wake_events() {
  std::lock_guard lock{mutex_};
  return msix_.routes_wake_events();
}

void PciTransport::signal_used_buffers_locked(uint16_t queue) {
  isr_ |= 1;
  msix_.send(queue_vectors_[queue]);  // kNoVector, or MSI-X off: the driver polls the ISR
}

void PciTransport::signal_config_change_locked() {
  isr_ |= 2;
  msix_.send(config_vector_);
}

void PciTransport::reset_transport_locked() {
  // §2.4 and §4.1.4.3: queues back to their maximum size, no vectors. The
  // MSI-X table and the PCI configuration belong to the PCI function, which
  // a virtio reset does not touch.
  for (auto& queue : queues_) queue.layout.size = device_.max_queue_size();
  std::fill(queue_vectors_.begin(), queue_vectors_.end(), kNoVector);
  config_vector_ = kNoVector;
  isr_ = 0;
}

}  // namespace ember::virtio
