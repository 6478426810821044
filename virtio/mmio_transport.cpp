#include "virtio/mmio_transport.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

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
// How many requests the worker serves before letting a reset in.
constexpr uint32_t kBatch = 64;

// Adds one to an eventfd's counter. A full counter (EAGAIN) already means
// "pending", so only the stop signal, which is blocking, can fail.
bool signal(int eventfd) {
  const uint64_t one = 1;
  return ::write(eventfd, &one, sizeof one) == sizeof one;
}

void set_low(uint64_t& field, uint32_t value) { field = (field & ~0xffffffffull) | value; }
void set_high(uint64_t& field, uint32_t value) { field = (field & 0xffffffffull) | (static_cast<uint64_t>(value) << 32); }

}  // namespace

MmioTransport::MmioTransport(const GuestMemory& memory, VirtioDevice& device, InterruptLine& line)
    : memory_{memory},
      device_{device},
      line_{line},
      offered_features_{device.device_features() | kFeatureVersion1 | kFeatureEventIndex | kFeatureIndirectDescriptors},
      stop_{::eventfd(0, EFD_CLOEXEC)} {
  queues_.resize(device.queue_count());
  for (auto& queue : queues_) queue.notify = FileDescriptor{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  worker_ = std::thread{[this] { run_worker(); }};
}

MmioTransport::~MmioTransport() {
  if (!signal(stop_.get())) log::error("cannot stop a virtio worker");
  worker_.join();
}

void MmioTransport::read(const Access& access, std::span<uint8_t> data) {
  if (access.offset >= kConfig) {
    // Device-specific configuration: any width, bounded by its size (§4.2.2.2).
    const auto config = device_.config_space();
    const uint64_t at = access.offset - kConfig;
    if (at >= config.size() || data.size() > config.size() - at) {
      EMBER_GUEST_WARNING(std::string(device_.name()) + ": configuration read outside the space, offset " + std::to_string(at));
      return;
    }
    std::memcpy(data.data(), config.data() + at, data.size());
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
    case kDeviceFeatures:
      return device_features_select_ == 0 ? static_cast<uint32_t>(offered_features_)
             : device_features_select_ == 1 ? static_cast<uint32_t>(offered_features_ >> 32) : 0;
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
    // KVM's ioeventfd normally takes these; see the header.
    if (value >= queues_.size()) {
      EMBER_GUEST_WARNING(std::string(device_.name()) + ": notify for queue " + std::to_string(value) + ", which does not exist");
      return;
    }
    (void)signal(queues_[value].notify.get());
    return;
  }
  write_register(access.offset, value);
}

MmioTransport::Queue* MmioTransport::selected_queue_for_write(uint64_t offset) {
  const char* register_name = offset == kQueueNum ? "QueueNum" : offset == kQueueReady ? "QueueReady" : "a queue address";
  if (queue_select_ >= queues_.size()) {
    EMBER_GUEST_WARNING(std::string(device_.name()) + ": " + register_name + " written for queue " + std::to_string(queue_select_) +
                        ", which does not exist");
    return nullptr;
  }
  // §4.2.2.3 and STYLE.md: the layout is frozen once the queue is ready or
  // the driver is running.
  Queue& queue = queues_[queue_select_];
  if ((status_ & kDriverOk) != 0 || (queue.ready && offset != kQueueReady)) {
    EMBER_GUEST_WARNING(std::string(device_.name()) + ": " + register_name + " written while the queue is in use; ignored");
    return nullptr;
  }
  return &queue;
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
  std::lock_guard lock{mutex_};
  const auto features_writable = [&] {
    if ((status_ & kFeaturesOk) == 0) return true;
    EMBER_GUEST_WARNING(std::string(device_.name()) + ": driver features written after FEATURES_OK; ignored");
    return false;
  };
  switch (offset) {
    case kDeviceFeaturesSel: device_features_select_ = value; return;
    case kDriverFeaturesSel: driver_features_select_ = value; return;
    case kDriverFeatures:
      if (!features_writable()) return;
      if (driver_features_select_ == 0) set_low(driver_features_, value);
      else if (driver_features_select_ == 1) set_high(driver_features_, value);
      else if (value != 0) EMBER_GUEST_WARNING(std::string(device_.name()) + ": feature bits beyond 63 are not offered");
      return;
    case kQueueSel: queue_select_ = value; return;
    case kInterruptAck:
      interrupt_status_ &= ~value;
      line_.set_level(interrupt_status_ != 0);
      return;
    case kShmSel: return;
    default: break;
  }
  switch (offset) {
    case kQueueNum: case kQueueReady: case kQueueDescLow: case kQueueDescHigh: case kQueueDriverLow: case kQueueDriverHigh:
    case kQueueDeviceLow: case kQueueDeviceHigh: break;
    default:
      EMBER_GUEST_WARNING(std::string(device_.name()) + ": write to read-only or unknown register at offset " + std::to_string(offset));
      return;
  }
  Queue* queue = selected_queue_for_write(offset);
  if (queue == nullptr) return;
  switch (offset) {
    // Sizes and addresses are checked once, when the driver starts the
    // device (SplitVirtqueue::create): one place, and the driver may write
    // the halves of an address in any order.
    case kQueueNum: queue->layout.size = value > 0xffff ? 0 : static_cast<uint16_t>(value); return;
    case kQueueReady: queue->ready = (value & 1) != 0; return;
    case kQueueDescLow: set_low(queue->layout.descriptor_table, value); return;
    case kQueueDescHigh: set_high(queue->layout.descriptor_table, value); return;
    case kQueueDriverLow: set_low(queue->layout.available_ring, value); return;
    case kQueueDriverHigh: set_high(queue->layout.available_ring, value); return;
    case kQueueDeviceLow: set_low(queue->layout.used_ring, value); return;
    case kQueueDeviceHigh: set_high(queue->layout.used_ring, value); return;
    default: return;
  }
}

void MmioTransport::write_status(uint32_t value) {
  // Resets and activation must not overlap a request in flight.
  std::lock_guard processing{processing_mutex_};
  std::lock_guard lock{mutex_};
  if (value == 0) {
    reset_locked();
    return;
  }
  const uint32_t old = status_ & ~kNeedsReset;
  if ((value & old) != old) {
    EMBER_GUEST_WARNING(std::string(device_.name()) + ": the driver cleared status bits without a reset; ignored");
    return;
  }
  uint32_t next = (status_ & kNeedsReset) | value;
  const uint32_t added = value & ~old;
  if ((added & kFeaturesOk) != 0) {
    // §3.1.1: the device keeps FEATURES_OK only for features it offered,
    // and this transport serves only modern (VERSION_1) drivers.
    if ((driver_features_ & ~offered_features_) != 0 || (driver_features_ & kFeatureVersion1) == 0) {
      EMBER_GUEST_WARNING(std::string(device_.name()) + ": refused features (not offered, or no VIRTIO_F_VERSION_1)");
      next &= ~kFeaturesOk;
    }
  }
  if ((added & kDriverOk) != 0) {
    if ((next & kFeaturesOk) == 0) {
      EMBER_GUEST_WARNING(std::string(device_.name()) + ": DRIVER_OK without FEATURES_OK; ignored");
      next &= ~kDriverOk;
    }
  }
  status_ = next;
  if ((added & kDriverOk) != 0 && (status_ & kDriverOk) != 0 && activate_locked()) {
    // Anything the driver queued before DRIVER_OK is served now.
    for (auto& queue : queues_) {
      if (queue.live) (void)signal(queue.notify.get());
    }
  }
}

bool MmioTransport::activate_locked() {
  const QueueFeatures features{.event_index = (driver_features_ & kFeatureEventIndex) != 0,
                               .indirect_descriptors = (driver_features_ & kFeatureIndirectDescriptors) != 0};
  for (size_t i = 0; i < queues_.size(); ++i) {
    Queue& queue = queues_[i];
    if (!queue.ready) continue;  // a queue the driver does not use
    if (queue.layout.size > device_.max_queue_size()) {
      set_needs_reset_locked("queue " + std::to_string(i) + " size " + std::to_string(queue.layout.size) + " is above QueueNumMax");
      return false;
    }
    auto live = SplitVirtqueue::create(memory_, queue.layout, features);
    if (!live) {
      set_needs_reset_locked("queue " + std::to_string(i) + ": " + live.error().message);
      return false;
    }
    queue.live.emplace(std::move(*live));
  }
  device_.activate(driver_features_);
  return true;
}

void MmioTransport::reset_locked() {
  // §2.4: back to the state after power-on. The worker is not serving (the
  // caller holds processing_mutex_), so no request is in flight.
  for (auto& queue : queues_) {
    queue.layout = {};
    queue.ready = false;
    queue.live.reset();
  }
  status_ = 0;
  device_features_select_ = driver_features_select_ = 0;
  driver_features_ = 0;
  queue_select_ = 0;
  interrupt_status_ = 0;
  line_.set_level(false);
  device_.reset();
}

void MmioTransport::raise_locked(uint32_t reason) {
  interrupt_status_ |= reason;
  line_.set_level(true);
}

void MmioTransport::set_needs_reset_locked(std::string_view why) {
  EMBER_GUEST_WARNING(std::string(device_.name()) + ": device needs reset: " + std::string(why));
  for (auto& queue : queues_) queue.live.reset();
  status_ |= kNeedsReset;
  // §2.1.2: tell the driver with a configuration change notification.
  if ((status_ & kDriverOk) != 0) raise_locked(kConfigChangeInterrupt);
}

void MmioTransport::run_worker() {
  std::vector<pollfd> fds;
  fds.push_back({stop_.get(), POLLIN, 0});
  for (const auto& queue : queues_) fds.push_back({queue.notify.get(), POLLIN, 0});
  // The device's host data (console input, a TAP device) is watched only
  // while a receive queue has buffers to put it in; otherwise it waits on
  // the host side, where its memory is bounded.
  fds.push_back({-1, POLLIN, 0});
  pollfd& host_data = fds.back();
  for (;;) {
    host_data.fd = waiting_for_host() ? device_.host_data_fd() : -1;
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      log::error(std::string(device_.name()) + ": worker cannot wait for notifications: " + std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0) return;
    for (uint16_t i = 0; i < queues_.size(); ++i) {
      const bool notified = fds[i + 1].revents != 0;
      if (notified) {
        uint64_t count;
        (void)::read(fds[i + 1].fd, &count, sizeof count);  // may already be drained
      }
      if (device_.is_receive_queue(i)) {
        if (notified || (host_data.fd >= 0 && host_data.revents != 0)) serve_receive(i);
        continue;
      }
      if (!notified) continue;
      while (serve(i)) {
      }
    }
  }
}

bool MmioTransport::waiting_for_host() const {
  for (const auto& queue : queues_) {
    if (queue.waiting_for_host) return true;
  }
  return false;
}

// A receive queue's buffers as the device sees them while it fills them.
class MmioTransport::LentBuffers final : public ReceiveBuffers {
 public:
  explicit LentBuffers(SplitVirtqueue& ring) : ring_{ring} {}

  std::optional<DescriptorChain> take() override {
    for (;;) {
      auto next = ring_.pop();
      if (!next) {
        error_ = next.error().message;
        return std::nullopt;
      }
      if (next->has_value()) return std::move(**next);
      // Empty: with event index, ask for the next notification and look
      // once more, so a buffer added meanwhile is not missed.
      if (!ring_.rearm_notification()) return std::nullopt;
    }
  }
  void give_back(uint16_t count) override { ring_.give_back(count); }
  void fill(std::span<const UsedElement> filled) override { ring_.push(filled); }

  const std::optional<std::string>& error() const { return error_; }

 private:
  SplitVirtqueue&            ring_;
  std::optional<std::string> error_;
};

void MmioTransport::serve_receive(uint16_t index) {
  std::lock_guard processing{processing_mutex_};
  Queue& queue = queues_[index];
  queue.waiting_for_host = false;
  if (!queue.live) return;  // not started, or reset
  LentBuffers buffers{*queue.live};
  const ReceiveWait wait = device_.receive(index, buffers);
  std::lock_guard lock{mutex_};
  if (buffers.error()) {
    set_needs_reset_locked("queue " + std::to_string(index) + ": " + *buffers.error());
    return;
  }
  queue.waiting_for_host = wait == ReceiveWait::kHostData;
  if (queue.live->needs_interrupt()) raise_locked(kUsedBufferInterrupt);
}

bool MmioTransport::serve(uint16_t index) {
  std::lock_guard processing{processing_mutex_};
  Queue& queue = queues_[index];
  if (!queue.live) return false;  // not started, or reset
  SplitVirtqueue& ring = *queue.live;
  uint32_t served = 0;
  bool more = false;
  for (;;) {
    auto next = ring.pop();
    if (!next) {
      std::lock_guard lock{mutex_};
      set_needs_reset_locked("queue " + std::to_string(index) + ": " + next.error().message);
      return false;
    }
    if (!next->has_value()) {
      // Empty: with event index, ask for the next notification and look
      // once more, so a request added meanwhile is not left waiting.
      if (ring.rearm_notification()) continue;
      break;
    }
    const DescriptorChain& chain = **next;
    ring.push(chain.head, device_.handle(index, chain));
    if (++served == kBatch) {
      more = true;
      break;
    }
  }
  if (ring.needs_interrupt()) {
    std::lock_guard lock{mutex_};
    raise_locked(kUsedBufferInterrupt);
  }
  return more;
}

}  // namespace ember::virtio
