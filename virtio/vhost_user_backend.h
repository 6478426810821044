// ember as a vhost-user front end (QEMU's docs/interop/vhost-user.rst): a
// device whose queues another process (the backend, e.g. virtiofsd) serves
// straight from guest RAM, which ember shares with it as memfds.
//
// Set-up, before seccomp, on the thread that builds the machine: connect,
// negotiate features and protocol features (reply-ack, multiqueue), SET_OWNER
// and the memory table. At DRIVER_OK the transport hands the rings over
// (ExternalQueues::start): SET_FEATURES, then per queue its size, base,
// addresses, kick (the transport's notify eventfd, which KVM signals on the
// guest's notify, so a kick never passes through ember) and call eventfd,
// and SET_VRING_ENABLE. A reset takes them back (GET_VRING_BASE).
//
// Threads: the messages go out on a messenger thread of the backend's own,
// because the VCPU thread that writes DRIVER_OK may not use sockets under
// its seccomp filter; it waits for the answer. A watcher thread waits on the
// call eventfds and raises the queue's interrupt through the transport
// (QueueEvents::used_buffers), with no VCPU thread involved, and on the
// socket: a backend that closes it ends the run through `on_failure` with a
// report naming it.
//
// A hung backend: every exchange has a deadline (Timing::reply), and while
// the backend is attached (set-up to expect_close) the messenger asks
// GET_FEATURES every Timing::liveness_interval. A backend that does not answer within
// Timing::liveness_reply (stopped, deadlocked, or stuck in one request: QEMU's
// C virtiofsd serves requests on the thread that would answer, so a request
// blocked that long has stalled the whole share anyway), or answers wrongly,
// ends the run the same way.
//
// Under seccomp: replies are read with read(), and every request goes out
// through the FdCourier (security/fd_courier.h) once Machine::run hands one
// over before the filters, so ember's process filter gains neither sendmsg
// nor recvfrom. Before that (set-up) they go out with sendmsg directly.
//
// Every reply is untrusted input and is checked in one place
// (vhost_user_message.h, parse_reply).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/file_descriptor.h"
#include "base/result.h"
#include "security/fd_courier.h"
#include "memory/guest_memory.h"
#include "virtio/queue_service.h"
#include "virtio/vhost_user_message.h"
#include "virtio/virtio_device.h"

namespace ember::virtio {

// How long ember waits for a backend (VhostUserBackend below).
struct VhostUserTiming {
  std::chrono::milliseconds reply{5000};
  // The first reply may wait for the backend to start (a virtiofsd ember
  // just launched, on a busy host).
  std::chrono::milliseconds first_reply{30000};
  std::chrono::milliseconds liveness_interval{5000};
  std::chrono::milliseconds liveness_reply{20000};
};

class VhostUserBackend final : public ExternalQueues {
 public:
  using Timing = VhostUserTiming;
  using FailureReport = std::function<void(const std::string& why)>;

  // A connection to the backend listening at `socket_path`, made before
  // ember drops its privileges. `name` names it in every message
  // ("virtio-fs 'src'").
  static Result<FileDescriptor> connect_socket(const std::string& socket_path, const std::string& name);
  // Sets the backend on `socket` up for `queue_count` queues of `memory`
  // (which must be shareable) and starts the messenger and watcher.
  static Result<std::unique_ptr<VhostUserBackend>> attach(FileDescriptor socket, std::string name, const GuestMemory& memory,
                                                          uint16_t queue_count, FailureReport on_failure,
                                                          Timing timing = {});
  ~VhostUserBackend();

  const std::string& name() const { return name_; }
  // The virtio features the backend offers (without vhost-user's bit 30).
  uint64_t virtio_features() const { return features_ & ~vhost_user::kProtocolFeaturesFeature; }

  // The run is over: a backend that goes away now is no failure.
  void expect_close();
  // What the courier must be able to lend: the socket and the call eventfds
  // (the kicks are the transport's notify eventfds).
  std::vector<int> lendable_fds() const;
  // From now on requests go out through `courier` (before the filters go on).
  void send_through(FdCourier& courier);

  Result<void> start(uint64_t features, std::span<const StartedQueue> queues, QueueEvents& events) override;
  void         stop() override;
  void         detach() override;

 private:
  VhostUserBackend(FileDescriptor socket, std::string name, const GuestMemory& memory, uint16_t queue_count,
                   FailureReport on_failure, Timing timing);

  Result<void>     set_up();
  // One request; with a reply (`reply_size` bytes of payload) when asked.
  Result<std::vector<uint8_t>> exchange(const vhost_user::Message& message, std::span<const int> fds,
                                        std::optional<size_t> reply_size,
                                        std::optional<std::chrono::milliseconds> timeout = std::nullopt);
  // Sends the whole request by `deadline` (sendmsg, or the courier's).
  Result<void> send(const vhost_user::Message& message, std::span<const int> fds, std::chrono::steady_clock::time_point deadline);
  // A request that changes state, acknowledged when reply-ack was negotiated.
  Result<void>     command(vhost_user::Message message, std::span<const int> fds = {});
  bool             reply_ack() const { return (protocol_features_ & vhost_user::kProtocolReplyAck) != 0; }
  Result<void>     start_on_messenger(uint64_t features, std::span<const StartedQueue> queues);
  void             stop_on_messenger();
  // Runs `job` on the messenger thread and waits for it.
  Result<void>     on_messenger(const std::function<Result<void>()>& job);
  void             run_messenger();
  // GET_FEATURES, which must come back unchanged within Timing::liveness_reply.
  void             check_alive();
  void             run_watcher();
  void             fail(const std::string& why);

  FileDescriptor       socket_;
  const std::string    name_;
  const GuestMemory&   memory_;
  const uint16_t       queue_count_;
  FailureReport        on_failure_;
  const Timing         timing_;
  std::mutex           send_mutex_;  // guards courier_; held through each send
  FdCourier*           courier_ = nullptr;  // set once, before the filters
  uint64_t             features_ = 0;
  uint64_t             protocol_features_ = 0;
  std::vector<FileDescriptor> call_eventfds_;  // one per queue, the backend's to signal
  FileDescriptor       stop_;                  // eventfd: the watcher exits, an exchange in progress gives up

  std::mutex                       mutex_;  // guards the members below
  std::condition_variable          changed_;
  std::function<Result<void>()>    job_;
  std::optional<Result<void>>      job_result_;
  bool                             stopping_ = false;
  bool                             failed_ = false;
  bool                             delivering_ = false;  // the watcher is inside events_->used_buffers
  QueueEvents*                     events_ = nullptr;  // while the rings are the backend's
  std::vector<uint16_t>            started_;

  std::thread messenger_;
  std::thread watcher_;
};

}  // namespace ember::virtio
