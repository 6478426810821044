#include "virtio/transport.h"

#include <cstring>
#include <string>

#include "base/log.h"

namespace ember::virtio {

Transport::Transport(const GuestMemory& memory, VirtioDevice& device, QueueService::Mode mode)
    : memory_{memory},
      device_{device},
      offered_features_{device.device_features() | device.transport_features()},
      queues_(device.queue_count()),
      service_{device, *this, mode} {}

Transport::~Transport() { stop_workers(); }

void Transport::detach_external() {
  if (ExternalQueues* external = device_.external_queues()) external->detach();
}

namespace {

// 64-bit registers written as two 32-bit halves, in either order.
void set_low(uint64_t& field, uint32_t value) { field = (field & ~0xffffffffull) | value; }
void set_high(uint64_t& field, uint32_t value) { field = (field & 0xffffffffull) | (static_cast<uint64_t>(value) << 32); }

// Feature words are read 32 bits at a time; selects above 1 read as zero.
uint32_t feature_word(uint64_t features, uint32_t select) {
  return select == 0 ? static_cast<uint32_t>(features) : select == 1 ? static_cast<uint32_t>(features >> 32) : 0;
}

}  // namespace

uint32_t Transport::device_features_locked() const { return feature_word(offered_features_, device_features_select_); }
uint32_t Transport::driver_features_locked() const { return feature_word(driver_features_, driver_features_select_); }

void Transport::write_driver_features_locked(uint32_t value) {
  if ((status_ & kFeaturesOk) != 0) {
    EMBER_GUEST_WARNING(std::string(name()) + ": driver features written after FEATURES_OK; ignored");
    return;
  }
  if (driver_features_select_ == 0) set_low(driver_features_, value);
  else if (driver_features_select_ == 1) set_high(driver_features_, value);
  else if (value != 0) EMBER_GUEST_WARNING(std::string(name()) + ": feature bits beyond 63 are not offered");
}

void Transport::notify(uint32_t queue) {
  if (queue >= queues_.size()) {
    EMBER_GUEST_WARNING(std::string(name()) + ": notify for queue " + std::to_string(queue) + ", which does not exist");
    return;
  }
  service_.notify(static_cast<uint16_t>(queue));
}

Transport::Queue* Transport::selected_queue_for_write_locked(std::string_view register_name, bool is_enable_register) {
  if (queue_select_ >= queues_.size()) {
    EMBER_GUEST_WARNING(std::string(name()) + ": " + std::string(register_name) + " written for queue " +
                        std::to_string(queue_select_) + ", which does not exist");
    return nullptr;
  }
  Queue& queue = queues_[queue_select_];
  if ((status_ & kDriverOk) != 0 || (queue.ready && !is_enable_register)) {
    EMBER_GUEST_WARNING(std::string(name()) + ": " + std::string(register_name) + " written while the queue is in use; ignored");
    return nullptr;
  }
  return &queue;
}

void Transport::write_status(uint32_t value) {
  // Resets and activation must not overlap a request in flight.
  const auto paused = service_.pause();
  std::lock_guard lock{mutex_};
  if (value == 0) {
    reset_locked(paused);
    return;
  }
  const uint32_t old = status_ & ~kNeedsReset;
  if ((value & old) != old) {
    EMBER_GUEST_WARNING(std::string(name()) + ": the driver cleared status bits without a reset; ignored");
    return;
  }
  uint32_t next = (status_ & kNeedsReset) | value;
  const uint32_t added = value & ~old;
  if ((added & kFeaturesOk) != 0) {
    // §3.1.1: the device keeps FEATURES_OK only for features it offered,
    // and ember serves only modern (VERSION_1) drivers.
    if ((driver_features_ & ~offered_features_) != 0 || (driver_features_ & kFeatureVersion1) == 0) {
      EMBER_GUEST_WARNING(std::string(name()) + ": refused features (not offered, or no VIRTIO_F_VERSION_1)");
      next &= ~kFeaturesOk;
    }
  }
  if ((added & kDriverOk) != 0) {
    if ((next & kFeaturesOk) == 0) {
      EMBER_GUEST_WARNING(std::string(name()) + ": DRIVER_OK without FEATURES_OK; ignored");
      next &= ~kDriverOk;
    }
  }
  status_ = next;
  if ((added & kDriverOk) != 0 && (status_ & kDriverOk) != 0 && activate_locked(paused)) {
    // Anything the driver queued before DRIVER_OK is served now.
    service_.wake_live_queues(paused);
  }
}

bool Transport::activate_locked(const QueueService::Paused& paused) {
  const QueueFeatures features{.event_index = (driver_features_ & kFeatureEventIndex) != 0,
                               .indirect_descriptors = (driver_features_ & kFeatureIndirectDescriptors) != 0};
  ExternalQueues* const external = device_.external_queues();
  std::vector<StartedQueue> started;
  for (size_t i = 0; i < queues_.size(); ++i) {
    Queue& queue = queues_[i];
    if (!queue.ready) continue;  // a queue the driver does not use
    if (queue.layout.size > device_.max_queue_size()) {
      set_needs_reset_locked("queue " + std::to_string(i) + " size " + std::to_string(queue.layout.size) +
                             " is above the maximum");
      return false;
    }
    // The layout is checked here for both kinds of device, so a backend in
    // another process never sees rings outside guest RAM.
    auto live = SplitVirtqueue::create(memory_, queue.layout, features);
    if (!live) {
      set_needs_reset_locked("queue " + std::to_string(i) + ": " + live.error().message);
      return false;
    }
    const auto index = static_cast<uint16_t>(i);
    if (external != nullptr) started.push_back({index, queue.layout, service_.notify_eventfd(index)});
    else service_.begin(paused, index, std::move(*live));
  }
  if (external != nullptr) {
    if (auto handed = external->start(driver_features_, started, *this); !handed) {
      set_needs_reset_locked(handed.error().message);
      return false;
    }
    external_started_ = true;
  }
  device_.activate(driver_features_);
  return true;
}

void Transport::reset_locked(const QueueService::Paused& paused) {
  // §2.4: back to the state after power-on. No worker is serving (the
  // caller holds every processing mutex), so no request is in flight.
  for (auto& queue : queues_) queue = {};
  service_.end_all(paused);
  if (external_started_) {
    device_.external_queues()->stop();
    external_started_ = false;
  }
  status_ = 0;
  device_features_select_ = driver_features_select_ = 0;
  driver_features_ = 0;
  queue_select_ = 0;
  reset_transport_locked();
  device_.reset();
}

void Transport::set_needs_reset_locked(std::string_view why) {
  EMBER_GUEST_WARNING(std::string(name()) + ": device needs reset: " + std::string(why));
  // Every queue stops being served. Their rings stay: another queue's
  // worker may be using its ring right now, holding only its own processing
  // mutex, and this thread may not take that one (the lock order puts it
  // first). Rings end only in reset_locked, with every worker paused.
  service_.stop_serving();
  status_ |= kNeedsReset;
  // §2.1.2: tell the driver with a configuration change notification.
  if ((status_ & kDriverOk) != 0) signal_config_change_locked();
}

void Transport::used_buffers(uint16_t queue) {
  std::lock_guard lock{mutex_};
  // A backend's call that arrives after a reset took its rings back.
  if (device_.external_queues() != nullptr && !external_started_) return;
  signal_used_buffers_locked(queue);
}

void Transport::queue_broke(uint16_t queue, const std::string& why) {
  std::lock_guard lock{mutex_};
  set_needs_reset_locked("queue " + std::to_string(queue) + ": " + why);
}

uint32_t Transport::read_queue_field_locked(QueueField field) const {
  if (!have_selected_queue_locked()) return 0;
  const QueueLayout& layout = queues_[queue_select_].layout;
  switch (field) {
    case QueueField::kSize: return layout.size;
    case QueueField::kDescriptorLow: return static_cast<uint32_t>(layout.descriptor_table);
    case QueueField::kDescriptorHigh: return static_cast<uint32_t>(layout.descriptor_table >> 32);
    case QueueField::kDriverLow: return static_cast<uint32_t>(layout.available_ring);
    case QueueField::kDriverHigh: return static_cast<uint32_t>(layout.available_ring >> 32);
    case QueueField::kDeviceLow: return static_cast<uint32_t>(layout.used_ring);
    case QueueField::kDeviceHigh: return static_cast<uint32_t>(layout.used_ring >> 32);
  }
  return 0;
}

void Transport::write_queue_field_locked(QueueField field, uint32_t value) {
  Queue* queue = selected_queue_for_write_locked(field == QueueField::kSize ? "the queue size" : "a queue address", false);
  if (queue == nullptr) return;
  QueueLayout& layout = queue->layout;
  switch (field) {
    case QueueField::kSize: layout.size = value > 0xffff ? 0 : static_cast<uint16_t>(value); return;
    case QueueField::kDescriptorLow: set_low(layout.descriptor_table, value); return;
    case QueueField::kDescriptorHigh: set_high(layout.descriptor_table, value); return;
    case QueueField::kDriverLow: set_low(layout.available_ring, value); return;
    case QueueField::kDriverHigh: set_high(layout.available_ring, value); return;
    case QueueField::kDeviceLow: set_low(layout.used_ring, value); return;
    case QueueField::kDeviceHigh: set_high(layout.used_ring, value); return;
  }
}

bool Transport::read_device_config(uint64_t offset, std::span<uint8_t> data) const {
  const auto config = device_.config_space();
  if (offset >= config.size() || data.size() > config.size() - offset) {
    EMBER_GUEST_WARNING(std::string(name()) + ": " + std::to_string(data.size()) + "-byte configuration read at offset " +
                        std::to_string(offset) + " is outside the device configuration");
    return false;
  }
  std::memcpy(data.data(), config.data() + offset, data.size());
  return true;
}

void Transport::save(snapshot::SectionWriter& out) {
  const auto paused = service_.pause();  // no request in flight: the positions are final
  std::lock_guard lock{mutex_};
  out.u32(status_).u32(device_features_select_).u32(driver_features_select_).u64(driver_features_).u32(queue_select_);
  out.u32(static_cast<uint32_t>(queues_.size()));
  for (size_t i = 0; i < queues_.size(); ++i) {
    const Queue& queue = queues_[i];
    out.u16(queue.layout.size).u64(queue.layout.descriptor_table).u64(queue.layout.available_ring).u64(queue.layout.used_ring)
        .boolean(queue.ready);
    const auto position = service_.position(paused, static_cast<uint16_t>(i));
    out.boolean(position.has_value());
    const auto at = position.value_or(SplitVirtqueue::Position{});
    out.u16(at.next_available).u16(at.next_used).u16(at.signalled_used).boolean(at.broken);
  }
  save_transport_locked(out);
}

Result<void> Transport::restore(snapshot::SectionReader& in) {
  const uint32_t status = in.u32(), device_features_select = in.u32(), driver_features_select = in.u32();
  const uint64_t driver_features = in.u64();
  const uint32_t queue_select = in.u32(), count = in.u32();
  if (count != queues_.size()) in.refuse("has " + std::to_string(count) + " queues; the device has " + std::to_string(queues_.size()));
  std::vector<Queue> queues(queues_.size());
  std::vector<std::optional<SplitVirtqueue::Position>> positions(queues_.size());
  for (size_t i = 0; i < queues.size() && in.ok(); ++i) {
    Queue& queue = queues[i];
    queue.layout.size = in.u16();
    queue.layout.descriptor_table = in.u64(), queue.layout.available_ring = in.u64(), queue.layout.used_ring = in.u64();
    queue.ready = in.boolean();
    const bool live = in.boolean();
    SplitVirtqueue::Position at;
    at.next_available = in.u16(), at.next_used = in.u16(), at.signalled_used = in.u16(), at.broken = in.boolean();
    if (live) positions[i] = at;
    if (queue.layout.size > device_.max_queue_size()) in.refuse("has queue " + std::to_string(i) + " larger than the device allows");
  }
  if ((driver_features & ~offered_features_) != 0) in.refuse("has features the device does not offer");
  if ((status & ~uint32_t{kAcknowledge | kDriver | kDriverOk | kFeaturesOk | kNeedsReset | kFailed}) != 0) {
    in.refuse("has an unknown device status bit");
  }
  if (device_.external_queues() != nullptr) in.refuse("belongs to a device another process serves, which a snapshot cannot hold");
  if (!in.ok()) return in.finish();

  const auto paused = service_.pause();
  std::lock_guard lock{mutex_};
  status_ = status, device_features_select_ = device_features_select, driver_features_select_ = driver_features_select;
  driver_features_ = driver_features, queue_select_ = queue_select;
  queues_ = queues;
  if ((status_ & kDriverOk) != 0 && (status_ & (kNeedsReset | kFailed)) == 0) {
    // The rings start as they did when the driver wrote DRIVER_OK (the same
    // checks: a ring outside RAM is refused), then take their positions.
    if (!activate_locked(paused)) return Error{"the snapshot's " + std::string(name()) + " rings do not start"};
  }
  for (size_t i = 0; i < queues_.size(); ++i) {
    const bool live = service_.position(paused, static_cast<uint16_t>(i)).has_value();
    if (live != positions[i].has_value()) return Error{"the snapshot's " + std::string(name()) + " queue " + std::to_string(i) + " was not as the registers say"};
    if (live) service_.set_position(paused, static_cast<uint16_t>(i), *positions[i]);
  }
  if (auto own = restore_transport_locked(in); !own) return own;
  if (auto done = in.finish(); !done) return done;
  return {};
}

void Transport::resume_after_restore() {
  const auto paused = service_.pause();
  std::lock_guard lock{mutex_};
  if ((status_ & kDriverOk) == 0) return;
  device_.restored();
  service_.wake_live_queues(paused);  // requests the driver made before the snapshot
}

}  // namespace ember::virtio
