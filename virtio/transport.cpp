#include "virtio/transport.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "base/log.h"

namespace ember::virtio {
namespace {

// How many requests the worker serves before letting a reset in.
constexpr uint32_t kBatch = 64;

}  // namespace

bool signal_eventfd(int eventfd) {
  const uint64_t one = 1;
  return ::write(eventfd, &one, sizeof one) == sizeof one;
}

Transport::Transport(const GuestMemory& memory, VirtioDevice& device)
    : memory_{memory},
      device_{device},
      offered_features_{device.device_features() | kFeatureVersion1 | kFeatureEventIndex | kFeatureIndirectDescriptors},
      stop_{::eventfd(0, EFD_CLOEXEC)} {
  queues_.resize(device.queue_count());
  for (auto& queue : queues_) queue.notify = FileDescriptor{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  const size_t worker_count = device.queues_are_independent() ? queues_.size() : 1;
  for (size_t i = 0; i < worker_count; ++i) workers_.push_back(std::make_unique<Worker>());
  for (uint16_t queue = 0; queue < queues_.size(); ++queue) {
    Worker& worker = *workers_[worker_count == 1 ? 0 : queue];
    worker.queues.push_back(queue);
    worker_of_.push_back(&worker);
  }
}

Transport::~Transport() { stop_workers(); }

void Transport::start_workers() {
  for (auto& worker : workers_) worker->thread = std::thread{[this, &worker = *worker] { run_worker(worker); }};
}

void Transport::stop_workers() {
  // The stop eventfd stays readable once signalled (nobody reads it), so
  // one signal reaches every worker.
  bool signalled = false;
  for (auto& worker : workers_) {
    if (!worker->thread.joinable()) continue;
    if (!signalled && !signal_eventfd(stop_.get())) log::error("cannot stop the virtio workers");
    signalled = true;
    worker->thread.join();
  }
}

std::vector<std::unique_lock<std::mutex>> Transport::pause_workers() {
  std::vector<std::unique_lock<std::mutex>> held;
  for (auto& worker : workers_) held.emplace_back(worker->processing);
  return held;
}

namespace {

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
  (void)signal_eventfd(queues_[queue].notify.get());
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
  const auto paused = pause_workers();
  std::lock_guard lock{mutex_};
  if (value == 0) {
    reset_locked();
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
  if ((added & kDriverOk) != 0 && (status_ & kDriverOk) != 0 && activate_locked()) {
    // Anything the driver queued before DRIVER_OK is served now.
    for (auto& queue : queues_) {
      if (queue.live) (void)signal_eventfd(queue.notify.get());
    }
  }
}

bool Transport::activate_locked() {
  const QueueFeatures features{.event_index = (driver_features_ & kFeatureEventIndex) != 0,
                               .indirect_descriptors = (driver_features_ & kFeatureIndirectDescriptors) != 0};
  for (size_t i = 0; i < queues_.size(); ++i) {
    Queue& queue = queues_[i];
    if (!queue.ready) continue;  // a queue the driver does not use
    if (queue.layout.size > device_.max_queue_size()) {
      set_needs_reset_locked("queue " + std::to_string(i) + " size " + std::to_string(queue.layout.size) +
                             " is above the maximum");
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

void Transport::reset_locked() {
  // §2.4: back to the state after power-on. No worker is serving (the
  // caller holds every processing mutex), so no request is in flight.
  for (auto& queue : queues_) {
    queue.layout = {};
    queue.ready = false;
    queue.live.reset();
  }
  status_ = 0;
  needs_reset_.store(false, std::memory_order_release);
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
  needs_reset_.store(true, std::memory_order_release);
  status_ |= kNeedsReset;
  // §2.1.2: tell the driver with a configuration change notification.
  if ((status_ & kDriverOk) != 0) signal_config_change_locked();
}

void Transport::run_worker(Worker& worker) {
  std::vector<pollfd> fds;
  fds.push_back({stop_.get(), POLLIN, 0});
  for (uint16_t queue : worker.queues) fds.push_back({queues_[queue].notify.get(), POLLIN, 0});
  // The device's host data (console input, a TAP device) is watched only
  // while a receive queue has buffers to put it in; otherwise it waits on
  // the host side, where its memory is bounded.
  fds.push_back({-1, POLLIN, 0});
  const size_t host_data = fds.size() - 1;
  for (;;) {
    fds[host_data].fd = waiting_for_host(worker) ? device_.host_data_fd() : -1;
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      log::error(std::string(name()) + ": worker cannot wait for notifications: " + std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0) return;
    const bool host_ready = fds[host_data].fd >= 0 && fds[host_data].revents != 0;
    for (size_t i = 0; i < worker.queues.size(); ++i) {
      const uint16_t queue = worker.queues[i];
      const bool notified = fds[i + 1].revents != 0;
      if (notified) {
        uint64_t count;
        (void)::read(fds[i + 1].fd, &count, sizeof count);  // may already be drained
      }
      if (device_.is_receive_queue(queue)) {
        if (notified || host_ready) serve_receive(queue);
        continue;
      }
      if (!notified) continue;
      while (serve(queue)) {
      }
    }
  }
}

bool Transport::waiting_for_host(const Worker& worker) const {
  for (uint16_t queue : worker.queues) {
    if (queues_[queue].waiting_for_host) return true;
  }
  return false;
}

// A receive queue's buffers as the device sees them while it fills them.
class Transport::LentBuffers final : public ReceiveBuffers {
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

void Transport::serve_receive(uint16_t index) {
  std::lock_guard processing{worker_of_[index]->processing};
  Queue& queue = queues_[index];
  queue.waiting_for_host = false;
  if (!queue.live || needs_reset_.load(std::memory_order_acquire)) return;  // not started, reset or broken
  LentBuffers buffers{*queue.live};
  const ReceiveWait wait = device_.receive(index, buffers);
  std::lock_guard lock{mutex_};
  if (buffers.error()) {
    set_needs_reset_locked("queue " + std::to_string(index) + ": " + *buffers.error());
    return;
  }
  queue.waiting_for_host = wait == ReceiveWait::kHostData;
  if (queue.live->needs_interrupt()) signal_used_buffers_locked(index);
}

bool Transport::serve(uint16_t index) {
  std::lock_guard processing{worker_of_[index]->processing};
  Queue& queue = queues_[index];
  if (!queue.live) return false;  // not started, or reset
  SplitVirtqueue& ring = *queue.live;
  uint32_t served = 0;
  bool more = false;
  for (;;) {
    // Another queue may have broken the device meanwhile.
    if (needs_reset_.load(std::memory_order_acquire)) return false;
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
    signal_used_buffers_locked(index);
  }
  return more;
}

}  // namespace ember::virtio
