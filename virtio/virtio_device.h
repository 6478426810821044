// What a virtio device type (block, rng, ...) provides to a transport. The
// transport owns the feature negotiation, the status state machine, the
// queues and the interrupt; a device only answers requests.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "base/result.h"
#include "virtio/descriptor_chain.h"
#include "virtio/split_virtqueue.h"

namespace ember::virtio {

// Transport-independent feature bits the transports offer (virtio 1.2 §6).
inline constexpr uint64_t kFeatureIndirectDescriptors = 1ull << 28;
inline constexpr uint64_t kFeatureEventIndex = 1ull << 29;
inline constexpr uint64_t kFeatureVersion1 = 1ull << 32;

// The buffers of a receive queue (console input, network receive), lent to
// the device while it fills them with host data. Receive queues are served
// when the host has data, not when the driver adds a buffer.
class ReceiveBuffers {
 public:
  virtual ~ReceiveBuffers() = default;
  // The next buffer the driver made available; nothing when it has none
  // left (it will notify when it adds one) or broke the queue.
  virtual std::optional<DescriptorChain> take() = 0;
  // The last `count` buffers taken, not yet filled, go back to the queue;
  // take() returns them again later.
  virtual void give_back(uint16_t count) = 0;
  // Hands filled buffers to the driver, all in one used-ring update.
  virtual void fill(std::span<const UsedElement> filled) = 0;
};

// Why a device stopped filling a receive queue, so the transport knows
// what to wait for before asking again.
enum class ReceiveWait {
  kHostData,  // buffers are left; wait until host_data_fd() is readable
  kBuffers,   // no buffers (or no more host data ever); wait for a notify
};

class QueueEvents;

// A queue the driver started, as a device whose queues another process
// serves receives it: where its rings are and the eventfd KVM signals on
// the guest's notify.
struct StartedQueue {
  uint16_t    index;
  QueueLayout layout;
  int         notify_eventfd;
};

// The queues of a device that another process serves (vhost-user): the
// transport checks the driver's layout and hands the rings over at
// DRIVER_OK instead of serving them itself, and takes them back at a reset.
class ExternalQueues {
 public:
  // The backend serves `queues` with `features` negotiated from now on and
  // reports used buffers through `events`. An error breaks the device.
  virtual Result<void> start(uint64_t features, std::span<const StartedQueue> queues, QueueEvents& events) = 0;
  // The backend stops using the rings; they are the driver's again. Called
  // with the transport's lock held.
  virtual void stop() = 0;
  // No call reaches the QueueEvents given to start() after this returns.
  // Called by a transport going away, without its lock held.
  virtual void detach() = 0;

 protected:
  ~ExternalQueues() = default;
};

class VirtioDevice {
 public:
  virtual ~VirtioDevice() = default;

  virtual std::string_view name() const = 0;
  virtual uint32_t         device_type() const = 0;      // virtio 1.2 §5 (block 2, rng 4, ...)
  virtual uint64_t         device_features() const = 0;  // its own feature bits only
  virtual uint16_t         queue_count() const = 0;
  virtual uint16_t         max_queue_size() const { return 256; }
  // The device-specific configuration space, read-only for the driver.
  virtual std::span<const uint8_t> config_space() const = 0;

  // The driver set DRIVER_OK with these features; queues are live from now on.
  virtual void activate(uint64_t /*negotiated*/) {}
  // Serves one request from `queue` and returns how many bytes it wrote into
  // the chain's writable buffers. Runs on the transport's worker thread,
  // never on a VCPU thread (ARCHITECTURE.md, "Threads"), so it may block on
  // host I/O.
  virtual uint32_t handle(uint16_t queue, const DescriptorChain& chain) = 0;
  // The driver reset the device (status 0); no request is in flight.
  virtual void reset() {}
  // Whether handle() may run for different queues at once (each queue then
  // gets its own worker thread, e.g. virtio-blk's multiple queues). Devices
  // whose queues share state say no and get one worker for all.
  virtual bool queues_are_independent() const { return false; }

  // Receive queues: handle() is never called for them; receive() is, when
  // the driver adds buffers or host_data_fd() turns readable. It fills what
  // it can and says what it is waiting for. Runs on the worker thread.
  virtual bool        is_receive_queue(uint16_t /*queue*/) const { return false; }
  virtual int         host_data_fd() const { return -1; }
  virtual ReceiveWait receive(uint16_t /*queue*/, ReceiveBuffers& /*buffers*/) { return ReceiveWait::kBuffers; }

  // The transport-level features (§6) the device can use; the transport
  // offers them beside device_features(). A vhost-user backend may lack one.
  virtual uint64_t transport_features() const {
    return kFeatureVersion1 | kFeatureEventIndex | kFeatureIndirectDescriptors;
  }
  // Non-null for a device whose queues another process serves; handle()
  // and receive() are then never called.
  virtual ExternalQueues* external_queues() { return nullptr; }
  // Why a snapshot taken now would not hold this device's state (issue 20),
  // or nothing. Asked once the device's workers have stopped.
  virtual std::optional<std::string> why_not_snapshottable() const { return std::nullopt; }
  // A snapshot's running driver was restored onto this device, whose host
  // side is new; called before any queue is served.
  virtual void restored() {}
};

}  // namespace ember::virtio
