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
// socket: a backend that closes it, or does not answer within kReplyTimeout,
// ends the run through `on_failure` with a report naming it.
//
// Every reply is untrusted input and is checked in one place
// (vhost_user_message.h, parse_reply).
#pragma once

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
#include "memory/guest_memory.h"
#include "virtio/queue_service.h"
#include "virtio/vhost_user_message.h"
#include "virtio/virtio_device.h"

namespace ember::virtio {

class VhostUserBackend final : public ExternalQueues {
 public:
  static constexpr std::chrono::milliseconds kReplyTimeout{5000};
  // The first reply may wait for the backend to start (a virtiofsd ember
  // just launched, on a busy host).
  static constexpr std::chrono::milliseconds kFirstReplyTimeout{30000};
  using FailureReport = std::function<void(const std::string& why)>;

  // A connection to the backend listening at `socket_path`, made before
  // ember drops its privileges. `name` names it in every message
  // ("virtio-fs 'src'").
  static Result<FileDescriptor> connect_socket(const std::string& socket_path, const std::string& name);
  // Sets the backend on `socket` up for `queue_count` queues of `memory`
  // (which must be shareable) and starts the messenger and watcher.
  static Result<std::unique_ptr<VhostUserBackend>> attach(FileDescriptor socket, std::string name, const GuestMemory& memory,
                                                          uint16_t queue_count, FailureReport on_failure);
  ~VhostUserBackend();

  const std::string& name() const { return name_; }
  // The virtio features the backend offers (without vhost-user's bit 30).
  uint64_t virtio_features() const { return features_ & ~vhost_user::kProtocolFeaturesFeature; }

  // The run is over: a backend that goes away now is no failure.
  void expect_close();

  Result<void> start(uint64_t features, std::span<const StartedQueue> queues, QueueEvents& events) override;
  void         stop() override;
  void         detach() override;

 private:
  VhostUserBackend(FileDescriptor socket, std::string name, const GuestMemory& memory, uint16_t queue_count,
                   FailureReport on_failure);

  Result<void>     set_up();
  // One request; with a reply (`reply_size` bytes of payload) when asked.
  Result<std::vector<uint8_t>> exchange(const vhost_user::Message& message, std::span<const int> fds,
                                        std::optional<size_t> reply_size,
                                        std::chrono::milliseconds timeout = kReplyTimeout);
  // A request that changes state, acknowledged when reply-ack was negotiated.
  Result<void>     command(vhost_user::Message message, std::span<const int> fds = {});
  bool             reply_ack() const { return (protocol_features_ & vhost_user::kProtocolReplyAck) != 0; }
  Result<void>     start_on_messenger(uint64_t features, std::span<const StartedQueue> queues);
  void             stop_on_messenger();
  // Runs `job` on the messenger thread and waits for it.
  Result<void>     on_messenger(const std::function<Result<void>()>& job);
  void             run_messenger();
  void             run_watcher();
  void             fail(const std::string& why);

  FileDescriptor       socket_;
  const std::string    name_;
  const GuestMemory&   memory_;
  const uint16_t       queue_count_;
  FailureReport        on_failure_;
  uint64_t             features_ = 0;
  uint64_t             protocol_features_ = 0;
  std::vector<FileDescriptor> call_eventfds_;  // one per queue, the backend's to signal
  FileDescriptor       stop_;                  // eventfd: the watcher exits

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
