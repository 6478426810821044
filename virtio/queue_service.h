// Queue service (virtio 1.2 §2.7): the rings the driver started, served off
// the VCPU threads. This is one half of a transport; the other is the
// register front-end (transport.h), which decides when rings start, end and
// break, and how the guest is interrupted.
//
// Threads: one worker for all queues, or one per queue when the device says
// its queues are independent (VirtioDevice::queues_are_independent). A
// worker sleeps in poll() on its queues' notify eventfds, the device's host
// data (only while a receive queue has buffers to put it in) and a stop
// eventfd. With Mode::kCallerServes there are no workers: the caller (a unit
// test) serves a queue with serve_once(), on its own thread, and sees
// exactly what one wake-up of a worker would do.
//
// Notifications: each queue has an eventfd. The Machine asks KVM to signal
// it on the transport's notify address (KVM_IOEVENTFD), so a notify costs
// the VCPU no exit to userspace; a notify KVM did not match reaches the
// transport's write() and signals the same eventfd (notify()).
//
// Locks: each worker has a processing mutex, held while it serves a request.
// pause() takes every one (in worker order), so the caller knows no request
// is in flight; rings start and end only then. QueueEvents' calls come with
// the serving worker's processing mutex held (ARCHITECTURE.md, lock order).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "base/file_descriptor.h"
#include "virtio/split_virtqueue.h"
#include "virtio/virtio_device.h"

namespace ember::virtio {

// What the queue service tells the register front-end.
class QueueEvents {
 public:
  // `queue` has new used buffers and the driver wants an interrupt.
  virtual void used_buffers(uint16_t queue) = 0;
  // The driver broke `queue` (a bad chain, a ring outside memory): the
  // device needs a reset (§2.1.2).
  virtual void queue_broke(uint16_t queue, const std::string& why) = 0;

 protected:
  ~QueueEvents() = default;
};

class QueueService {
 public:
  enum class Mode {
    kWorkerThreads,  // ember's: workers serve the queues when notified
    kCallerServes,   // unit tests: no threads, the caller calls serve_once()
  };

  QueueService(VirtioDevice& device, QueueEvents& events, Mode mode);
  ~QueueService();
  QueueService(const QueueService&) = delete;
  QueueService& operator=(const QueueService&) = delete;

  // Starts and stops the workers (nothing with kCallerServes). The owner
  // starts them once it is fully built and stops them before it goes, so no
  // worker sees it half-made through QueueEvents.
  void start();
  void stop();

  uint16_t queue_count() const { return static_cast<uint16_t>(queues_.size()); }
  int      notify_eventfd(uint16_t queue) const { return queues_[queue].notify.get(); }
  // A notification that did not come through KVM's ioeventfd. The caller
  // has checked that `queue` exists.
  void     notify(uint16_t queue);

  // Every worker's processing mutex: while the caller holds the result, no
  // request is in flight, and it may start or end rings. The rings change
  // only through the calls below, which take it as proof.
  class Paused {
   public:
    Paused(Paused&&) = default;

   private:
    friend class QueueService;
    Paused() = default;
    std::vector<std::unique_lock<std::mutex>> locks_;
  };
  Paused pause();
  // `queue` is served from `ring` from now on.
  void   begin(const Paused&, uint16_t queue, SplitVirtqueue ring);
  // Every ring ends and service resumes (a device reset).
  void   end_all(const Paused&);
  // A wake-up for every live queue, for requests the driver made before
  // the rings began.
  void   wake_live_queues(const Paused&);
  // A live queue's position in its rings, or nothing if it is not live.
  std::optional<SplitVirtqueue::Position> position(const Paused&, uint16_t queue) const;
  void   set_position(const Paused&, uint16_t queue, const SplitVirtqueue::Position& position);

  // Nothing is served any more, on any queue, until end_all(). Callable
  // without pause(): the rings stay, because another worker may be using
  // its ring now, holding only its own processing mutex.
  void stop_serving() { stopped_.store(true, std::memory_order_release); }

  // One round of service for `queue`, as a worker does when woken for it:
  // requests until the ring is empty, or, for a receive queue, the host
  // data its buffers take. Takes the queue's processing mutex.
  void serve_once(uint16_t queue);

 private:
  class LentBuffers;
  struct Queue {
    FileDescriptor                notify;  // eventfd the worker waits on
    // From begin() until end_all(). On the heap, so that a ring used after
    // it ended is a use after free that the sanitizers catch, not a quiet
    // read of stale fields.
    std::unique_ptr<SplitVirtqueue> live;
    bool waiting_for_host = false;         // a receive queue with buffers; guarded by its processing mutex
  };
  struct Worker {
    std::vector<uint16_t> queues;      // the queues it serves
    std::mutex            processing;  // held while it serves; by pause()
    std::thread           thread;
  };

  void run_worker(Worker& worker);
  bool serve_batch(uint16_t index);
  void serve_receive(uint16_t index);
  bool waiting_for_host(const Worker& worker);
  bool serving() const { return !stopped_.load(std::memory_order_acquire); }

  VirtioDevice&                        device_;
  QueueEvents&                         events_;
  const Mode                           mode_;
  std::vector<Queue>                   queues_;
  FileDescriptor                       stop_;  // eventfd: every worker exits once it is signalled
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Worker*>                 worker_of_;  // by queue
  std::atomic<bool>                    stopped_{false};
};

// Adds one to an eventfd's counter. A full counter (EAGAIN) already means
// "pending", so only a blocking eventfd can fail.
bool signal_eventfd(int eventfd);

}  // namespace ember::virtio
