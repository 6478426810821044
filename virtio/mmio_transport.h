// The virtio-mmio transport, version 2 (virtio 1.2 §4.2.2): a page of
// registers on the MMIO bus, one interrupt line, and one worker thread that
// serves the device's queues off the VCPU threads.
//
// Notifications: the Machine asks KVM to turn a QueueNotify write of queue
// index N into a signal on queue N's eventfd (notify_eventfd), so a notify
// costs the VCPU no exit to userspace. A notify KVM did not match (another
// value, or a host without ioeventfd) reaches write() and signals the same
// eventfd, so both paths meet in the worker.
//
// Interrupts: the line is high while InterruptStatus is non-zero, which is
// level-triggered semantics (§4.2.3.4): the driver's InterruptACK lowers it.
//
// Threads and locks: VCPU threads call read()/write(); the worker serves
// queues. Lock order: processing_mutex_, then mutex_, then the interrupt
// controller's. The worker holds processing_mutex_ while it serves requests,
// so a reset (which takes it) waits for requests in flight to finish:
// nothing the device acknowledged is lost and nothing runs on a dead queue.
#pragma once

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "base/file_descriptor.h"
#include "bus/device.h"
#include "devices/interrupt_line.h"
#include "memory/guest_memory.h"
#include "virtio/split_virtqueue.h"
#include "virtio/virtio_device.h"

namespace ember::virtio {

class MmioTransport final : public Device {
 public:
  static constexpr uint64_t kSize = 0x1000;
  static constexpr uint64_t kQueueNotifyOffset = 0x050;
  // Device status bits (§2.1).
  static constexpr uint32_t kAcknowledge = 1, kDriver = 2, kDriverOk = 4, kFeaturesOk = 8, kNeedsReset = 64, kFailed = 128;
  // InterruptStatus bits (§4.2.2).
  static constexpr uint32_t kUsedBufferInterrupt = 1, kConfigChangeInterrupt = 2;

  MmioTransport(const GuestMemory& memory, VirtioDevice& device, InterruptLine& line);
  ~MmioTransport() override;

  std::string_view name() const override { return device_.name(); }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

  uint16_t queue_count() const { return static_cast<uint16_t>(queues_.size()); }
  int      notify_eventfd(uint16_t queue) const { return queues_[queue].notify.get(); }

 private:
  struct Queue {
    QueueLayout                   layout;
    bool                          ready = false;
    FileDescriptor                notify;  // eventfd the worker waits on
    std::optional<SplitVirtqueue> live;    // from DRIVER_OK until reset
    bool waiting_for_host = false;         // a receive queue with buffers; the worker's alone
  };
  class LentBuffers;

  uint32_t read_register(uint64_t offset);
  void     write_register(uint64_t offset, uint32_t value);
  void     write_status(uint32_t value);
  void     reset_locked();
  bool     activate_locked();
  void     raise_locked(uint32_t reason);
  void     set_needs_reset_locked(std::string_view why);
  Queue*   selected_queue_for_write(uint64_t offset);

  void run_worker();
  bool serve(uint16_t index);
  void serve_receive(uint16_t index);
  bool waiting_for_host() const;

  const GuestMemory& memory_;
  VirtioDevice&      device_;
  InterruptLine&     line_;
  const uint64_t     offered_features_;

  std::mutex processing_mutex_;  // held by the worker while serving; by resets and activation
  std::mutex mutex_;             // guards everything below
  uint32_t   status_ = 0;
  uint32_t   device_features_select_ = 0;
  uint32_t   driver_features_select_ = 0;
  uint64_t   driver_features_ = 0;
  uint32_t   queue_select_ = 0;
  uint32_t   interrupt_status_ = 0;
  std::vector<Queue> queues_;

  FileDescriptor stop_;  // eventfd: the worker exits when it is signalled
  std::thread    worker_;
};

}  // namespace ember::virtio
