#include "virtio/queue_service.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace ember::virtio {
namespace {

// How many requests a worker serves before letting a reset in.
constexpr uint32_t kBatch = 64;

}  // namespace

bool signal_eventfd(int eventfd) {
  const uint64_t one = 1;
  return ::write(eventfd, &one, sizeof one) == sizeof one;
}

QueueService::QueueService(VirtioDevice& device, QueueEvents& events, Mode mode)
    : device_{device}, events_{events}, mode_{mode}, queues_(device.queue_count()), stop_{::eventfd(0, EFD_CLOEXEC)} {
  for (auto& queue : queues_) queue.notify = FileDescriptor{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  const size_t worker_count = device.queues_are_independent() ? queues_.size() : 1;
  for (size_t i = 0; i < worker_count; ++i) workers_.push_back(std::make_unique<Worker>());
  for (uint16_t queue = 0; queue < queues_.size(); ++queue) {
    Worker& worker = *workers_[worker_count == 1 ? 0 : queue];
    worker.queues.push_back(queue);
    worker_of_.push_back(&worker);
  }
}

QueueService::~QueueService() { stop(); }

void QueueService::start() {
  // Another process serves an external device's queues (virtio_device.h).
  if (mode_ == Mode::kCallerServes || device_.external_queues() != nullptr) return;
  for (auto& worker : workers_) worker->thread = std::thread{[this, &worker = *worker] { run_worker(worker); }};
}

void QueueService::stop() {
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

void QueueService::notify(uint16_t queue) { (void)signal_eventfd(queues_[queue].notify.get()); }

QueueService::Paused QueueService::pause() {
  Paused held;
  for (auto& worker : workers_) held.locks_.emplace_back(worker->processing);
  return held;
}

void QueueService::begin(const Paused&, uint16_t queue, SplitVirtqueue ring) { queues_[queue].live = std::make_unique<SplitVirtqueue>(std::move(ring)); }

void QueueService::end_all(const Paused&) {
  for (auto& queue : queues_) {
    queue.live.reset();
    queue.waiting_for_host = false;
  }
  stopped_.store(false, std::memory_order_release);
}

void QueueService::wake_live_queues(const Paused&) {
  for (auto& queue : queues_) {
    if (queue.live) (void)signal_eventfd(queue.notify.get());
  }
}

void QueueService::serve_once(uint16_t queue) {
  if (device_.is_receive_queue(queue)) {
    serve_receive(queue);
    return;
  }
  while (serve_batch(queue)) {
  }
}

void QueueService::run_worker(Worker& worker) {
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
      log::error(std::string(device_.name()) + ": worker cannot wait for notifications: " + std::strerror(errno));
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
      // A receive queue also runs when host data arrived for it.
      if (notified || (host_ready && device_.is_receive_queue(queue))) serve_once(queue);
    }
  }
}

bool QueueService::waiting_for_host(const Worker& worker) {
  for (uint16_t queue : worker.queues) {
    std::lock_guard processing{worker_of_[queue]->processing};
    if (queues_[queue].waiting_for_host) return true;
  }
  return false;
}

// A receive queue's buffers as the device sees them while it fills them.
class QueueService::LentBuffers final : public ReceiveBuffers {
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

void QueueService::serve_receive(uint16_t index) {
  std::lock_guard processing{worker_of_[index]->processing};
  Queue& queue = queues_[index];
  queue.waiting_for_host = false;
  if (!queue.live || !serving()) return;  // not started, reset or broken
  LentBuffers buffers{*queue.live};
  const ReceiveWait wait = device_.receive(index, buffers);
  if (buffers.error()) {
    events_.queue_broke(index, *buffers.error());
    return;
  }
  queue.waiting_for_host = wait == ReceiveWait::kHostData;
  if (queue.live->needs_interrupt()) events_.used_buffers(index);
}

// Up to kBatch requests; whether more may be waiting.
bool QueueService::serve_batch(uint16_t index) {
  std::lock_guard processing{worker_of_[index]->processing};
  Queue& queue = queues_[index];
  if (!queue.live) return false;  // not started, or reset
  SplitVirtqueue& ring = *queue.live;
  uint32_t served = 0;
  bool more = false;
  for (;;) {
    // Another queue may have broken the device meanwhile.
    if (!serving()) return false;
    auto next = ring.pop();
    if (!next) {
      events_.queue_broke(index, next.error().message);
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
  if (ring.needs_interrupt()) events_.used_buffers(index);
  return more;
}

std::optional<SplitVirtqueue::Position> QueueService::position(const Paused&, uint16_t queue) const {
  if (queue >= queues_.size() || !queues_[queue].live) return std::nullopt;
  return queues_[queue].live->position();
}

void QueueService::set_position(const Paused&, uint16_t queue, const SplitVirtqueue::Position& position) {
  if (queue < queues_.size() && queues_[queue].live) queues_[queue].live->set_position(position);
}

}  // namespace ember::virtio
