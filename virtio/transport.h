// The register front-end every virtio transport shares (virtio 1.2 §2 and
// §3): device status, feature negotiation, the queue registers, and the
// device-specific configuration. The rings themselves are served by the
// queue service (queue_service.h), which this class owns. virtio-mmio
// (mmio_transport.h) and virtio-pci (pci_transport.h) differ only in where
// the registers are and how an interrupt reaches the guest; they derive from
// this class.
//
// Threads and locks: VCPU threads call the register front-end; the queue
// service's workers serve queues and report back through QueueEvents. Lock
// order: the workers' processing mutexes (in worker order), then mutex_, then
// the interrupt controller's. A reset or activation pauses the service (every
// processing mutex), so it waits for all requests in flight to finish:
// nothing the device acknowledged is lost and nothing runs on a dead queue.
#pragma once

#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "memory/guest_memory.h"
#include "snapshot/state_format.h"
#include "virtio/queue_service.h"
#include "virtio/split_virtqueue.h"
#include "virtio/virtio_device.h"

namespace ember::virtio {

class Transport : private QueueEvents {
 public:
  // Device status bits (§2.1).
  static constexpr uint32_t kAcknowledge = 1, kDriver = 2, kDriverOk = 4, kFeaturesOk = 8, kNeedsReset = 64, kFailed = 128;
  // The queue registers both transports have, each 32 bits of a field.
  enum class QueueField { kSize, kDescriptorLow, kDescriptorHigh, kDriverLow, kDriverHigh, kDeviceLow, kDeviceHigh };

  virtual ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  std::string_view name() const { return device_.name(); }
  uint16_t queue_count() const { return service_.queue_count(); }
  int      notify_eventfd(uint16_t queue) const { return service_.notify_eventfd(queue); }
  // A device whose rings another process serves (vhost-user): its notify
  // eventfds are that process's kicks.
  bool     lends_rings() { return device_.external_queues() != nullptr; }
  // With QueueService::Mode::kCallerServes, the caller serves the queues.
  QueueService& queue_service() { return service_; }

  // Snapshot state (issue 20): the registers, each live ring's position in
  // guest RAM's rings, and the derived transport's own registers. restore
  // runs before the guest does; it restarts the rings a running driver had
  // and checks every value first (changing nothing when one is wrong).
  void         save(snapshot::SectionWriter& out);
  Result<void> restore(snapshot::SectionReader& in);
  // After every restore of the machine (the LAPICs' too, so an interrupt
  // reaches its CPU): the device learns its host side is new, and requests
  // the driver made before the snapshot are served.
  void         resume_after_restore();
  // Before a save: the request in flight completes (its interrupt sent)
  // and no worker serves again; save() still reads the rings' positions.
  void         stop_serving_for_save() { service_.stop(); }

 protected:
  // A queue's registers (§2.6): where the driver put its rings, and whether
  // it enabled it.
  struct Queue {
    QueueLayout layout;
    bool        ready = false;
  };

  Transport(const GuestMemory& memory, VirtioDevice& device, QueueService::Mode mode);
  // Derived constructors call start_workers() last and their destructors
  // stop_workers() first, so no worker sees a half-built or half-destroyed
  // transport through the virtual hooks below.
  void start_workers() { service_.start(); }
  void stop_workers() {
    service_.stop();
    detach_external();
  }

  // How the guest learns of used buffers and of configuration changes
  // (including NEEDS_RESET); called with mutex_ held.
  virtual void signal_used_buffers_locked(uint16_t queue) = 0;
  virtual void signal_config_change_locked() = 0;
  // The transport's own registers back to their power-on state (§2.4).
  virtual void reset_transport_locked() = 0;
  // Its own registers in a snapshot (none by default).
  virtual void         save_transport_locked(snapshot::SectionWriter&) {}
  virtual Result<void> restore_transport_locked(snapshot::SectionReader&) { return {}; }

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
  // The selected queue's field; 0 when no queue is selected.
  uint32_t read_queue_field_locked(QueueField field) const;
  // Writes the selected queue's field, unless its layout is frozen.
  // Sizes and addresses are checked once, when the driver starts the
  // device (SplitVirtqueue::create): one place, and the driver may write
  // the halves of an address in any order.
  void     write_queue_field_locked(QueueField field, uint32_t value);
  // The device-specific configuration at `offset`, `data.size()` bytes;
  // false (and a warning) if that is not all inside it.
  bool     read_device_config(uint64_t offset, std::span<uint8_t> data) const;
  void     set_needs_reset_locked(std::string_view why);

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
  bool               external_started_ = false;  // an external device's rings are its backend's

 private:
  // QueueEvents, from the service's workers; they take mutex_.
  void used_buffers(uint16_t queue) override;
  void queue_broke(uint16_t queue, const std::string& why) override;

  // A backend serving the queues calls this transport no more.
  void detach_external();
  void reset_locked(const QueueService::Paused& paused);
  bool activate_locked(const QueueService::Paused& paused);

  QueueService service_;
};

}  // namespace ember::virtio
