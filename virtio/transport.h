// What every virtio transport shares (virtio 1.2 §2 and §3): device status,
// feature negotiation, the queues and the worker threads that serve them
// off the VCPU threads: one for all queues, or one per queue when the
// device says its queues are independent (VirtioDevice::queues_are_independent). virtio-mmio (mmio_transport.h) and virtio-pci
// (pci_transport.h) differ only in where the registers are and how an
// interrupt reaches the guest; they derive from this class.
//
// Notifications: each queue has an eventfd. The Machine asks KVM to signal
// it on the transport's notify address (KVM_IOEVENTFD), so a notify costs the
// VCPU no exit to userspace; a notify KVM did not match reaches the
// transport's write() and signals the same eventfd (notify()).
//
// Threads and locks: VCPU threads call the register front-end; workers
// serve queues. Lock order: the workers' processing mutexes (in worker
// order), then mutex_, then the interrupt controller's. A worker holds its
// processing mutex while it serves requests, and a reset or activation takes
// every worker's, so it waits for all requests in flight to finish: nothing
// the device acknowledged is lost and nothing runs on a dead queue.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <vector>

#include "base/file_descriptor.h"
#include "memory/guest_memory.h"
#include "virtio/split_virtqueue.h"
#include "virtio/virtio_device.h"

namespace ember::virtio {

class Transport {
 public:
  // Device status bits (§2.1).
  static constexpr uint32_t kAcknowledge = 1, kDriver = 2, kDriverOk = 4, kFeaturesOk = 8, kNeedsReset = 64, kFailed = 128;

  virtual ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  std::string_view name() const { return device_.name(); }
  uint16_t queue_count() const { return static_cast<uint16_t>(queues_.size()); }
  int      notify_eventfd(uint16_t queue) const { return queues_[queue].notify.get(); }

 protected:
  struct Queue {
    QueueLayout                   layout;
    bool                          ready = false;
    FileDescriptor                notify;  // eventfd the worker waits on
    std::optional<SplitVirtqueue> live;    // from DRIVER_OK until reset
    bool waiting_for_host = false;         // a receive queue with buffers; the worker's alone
  };

  Transport(const GuestMemory& memory, VirtioDevice& device);
  // Derived constructors call start_workers() last and their destructors
  // stop_workers() first, so no worker sees a half-built or half-destroyed
  // transport through the virtual hooks below.
  void start_workers();
  void stop_workers();

  // How the guest learns of used buffers and of configuration changes
  // (including NEEDS_RESET); called with mutex_ held.
  virtual void signal_used_buffers_locked(uint16_t queue) = 0;
  virtual void signal_config_change_locked() = 0;
  // The transport's own registers back to their power-on state (§2.4).
  virtual void reset_transport_locked() = 0;

  // Register semantics both transports share. Callers hold mutex_ except
  // for write_status and notify, which take the locks they need.
  uint32_t device_features_locked() const;  // the 32 bits device_features_select_ picks
  uint32_t driver_features_locked() const;  // the 32 bits driver_features_select_ picks
  void     write_driver_features_locked(uint32_t value);
  void     write_status(uint32_t value);
  void     notify(uint32_t queue);
  // The selected queue if its layout may still change, else nullptr (and a
  // warning naming `register_name`). §2.6: the layout is frozen
  // once the queue is enabled or the driver is running.
  Queue* selected_queue_for_write_locked(std::string_view register_name, bool is_enable_register);
  bool   have_selected_queue_locked() const { return queue_select_ < queues_.size(); }
  void   set_needs_reset_locked(std::string_view why);

  const GuestMemory& memory_;
  VirtioDevice&      device_;
  const uint64_t     offered_features_;

  std::mutex mutex_;  // guards everything below and the derived transport's registers
  uint32_t   status_ = 0;
  uint32_t   device_features_select_ = 0;
  uint32_t   driver_features_select_ = 0;
  uint64_t   driver_features_ = 0;
  uint32_t   queue_select_ = 0;
  std::vector<Queue> queues_;
  // NEEDS_RESET is set: no queue is served until the driver resets the
  // device. Read by workers without mutex_.
  std::atomic<bool> needs_reset_{false};

 private:
  class LentBuffers;
  struct Worker {
    std::vector<uint16_t> queues;      // the queues it serves
    std::mutex            processing;  // held while it serves; by resets and activation
    std::thread           thread;
  };
  // Every worker's processing mutex, taken in worker order.
  std::vector<std::unique_lock<std::mutex>> pause_workers();
  void reset_locked();
  bool activate_locked();
  void run_worker(Worker& worker);
  bool serve(uint16_t index);
  void serve_receive(uint16_t index);
  bool waiting_for_host(const Worker& worker) const;

  FileDescriptor                       stop_;  // eventfd: every worker exits once it is signalled
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<Worker*>                 worker_of_;  // by queue
};

// 64-bit registers written as two 32-bit halves, in either order.
inline void set_low(uint64_t& field, uint32_t value) { field = (field & ~0xffffffffull) | value; }
inline void set_high(uint64_t& field, uint32_t value) { field = (field & 0xffffffffull) | (static_cast<uint64_t>(value) << 32); }

// Adds one to an eventfd's counter. A full counter (EAGAIN) already means
// "pending", so only a blocking eventfd can fail.
bool signal_eventfd(int eventfd);

}  // namespace ember::virtio
