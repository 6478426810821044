#include "virtio/vhost_user_backend.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"
#include "base/wait_ready.h"

namespace ember::virtio {

using namespace vhost_user;

namespace {

// Protocol features ember asks for, where the backend offers them.
constexpr uint64_t kWantedProtocolFeatures = kProtocolReplyAck | kProtocolMultiQueue;

using Clock = std::chrono::steady_clock;

// Reads exactly `bytes.size()` bytes by `deadline`: a backend that trickles
// a byte at a time cannot stretch it.
bool read_exactly(int fd, std::span<uint8_t> bytes, Clock::time_point deadline, int abort) {
  size_t done = 0;
  while (done < bytes.size()) {
    if (wait_ready(fd, POLLIN, deadline, abort) != Readiness::kReady) return false;
    // read(), not recv(): ember's process filter allows only the former.
    const ssize_t got = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got <= 0) return false;
    done += static_cast<size_t>(got);
  }
  return true;
}

std::string seconds(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
  return std::to_string(duration.count()) + " ms";
}

}  // namespace

Result<FileDescriptor> VhostUserBackend::connect_socket(const std::string& socket_path, const std::string& name) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof address.sun_path) {
    return Error{name + ": the vhost-user socket path " + socket_path + " is too long for a Unix socket"};
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size());
  FileDescriptor socket{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (!socket.valid()) return Error{name + ": cannot make a Unix socket: " + std::strerror(errno)};
  if (::connect(socket.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
    return Error{name + ": cannot connect to the vhost-user backend at " + socket_path + ": " + std::strerror(errno)};
  }
  return socket;
}

Result<std::unique_ptr<VhostUserBackend>> VhostUserBackend::attach(FileDescriptor socket, std::string name,
                                                                   const GuestMemory& memory, uint16_t queue_count,
                                                                   FailureReport on_failure, Timing timing) {
  // Non-blocking, for reads with a deadline (the courier's sends never block either).
  const int flags = ::fcntl(socket.get(), F_GETFL);
  if (flags < 0 || ::fcntl(socket.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return Error{name + ": cannot make the vhost-user socket non-blocking: " + std::strerror(errno)};
  }
  std::unique_ptr<VhostUserBackend> backend{
      new VhostUserBackend{std::move(socket), std::move(name), memory, queue_count, std::move(on_failure), timing}};
  bool eventfds = backend->stop_.valid();
  for (const auto& call : backend->call_eventfds_) eventfds = eventfds && call.valid();
  if (!eventfds) return Error{backend->name_ + ": cannot make eventfds: " + std::strerror(errno)};
  if (auto ready = backend->set_up(); !ready) return Error{backend->name_ + ": " + ready.error().message};
  backend->messenger_ = std::thread{[raw = backend.get()] { raw->run_messenger(); }};
  backend->watcher_ = std::thread{[raw = backend.get()] { raw->run_watcher(); }};
  return backend;
}

VhostUserBackend::VhostUserBackend(FileDescriptor socket, std::string name, const GuestMemory& memory, uint16_t queue_count,
                                   FailureReport on_failure, Timing timing)
    : socket_{std::move(socket)},
      name_{std::move(name)},
      memory_{memory},
      queue_count_{queue_count},
      on_failure_{std::move(on_failure)},
      timing_{timing},
      stop_{::eventfd(0, EFD_CLOEXEC)} {
  for (uint16_t i = 0; i < queue_count; ++i) call_eventfds_.emplace_back(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
}

VhostUserBackend::~VhostUserBackend() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
    events_ = nullptr;
  }
  changed_.notify_all();
  const uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof one);
  if (messenger_.joinable()) messenger_.join();
  if (watcher_.joinable()) watcher_.join();
}

Result<void> VhostUserBackend::set_up() {
  auto features = exchange(get_request(Request::kGetFeatures), {}, sizeof(uint64_t), timing_.first_reply);
  if (!features) return features.error();
  auto offered = parse_u64_reply(Request::kGetFeatures, *features);
  if (!offered) return offered.error();
  features_ = *offered;
  if ((features_ & kProtocolFeaturesFeature) != 0) {
    auto reply = exchange(get_request(Request::kGetProtocolFeatures), {}, sizeof(uint64_t));
    if (!reply) return reply.error();
    auto protocol = parse_u64_reply(Request::kGetProtocolFeatures, *reply);
    if (!protocol) return protocol.error();
    const uint64_t agreed = *protocol & kWantedProtocolFeatures;
    if (auto sent = exchange(u64_request(Request::kSetProtocolFeatures, agreed), {}, std::nullopt); !sent) return sent.error();
    protocol_features_ = agreed;
    if ((agreed & kProtocolMultiQueue) != 0) {
      auto count = exchange(get_request(Request::kGetQueueNum), {}, sizeof(uint64_t));
      if (!count) return count.error();
      auto queues = parse_u64_reply(Request::kGetQueueNum, *count);
      if (!queues) return queues.error();
      if (*queues < queue_count_) {
        return Error{"the backend serves " + std::to_string(*queues) + " queues; the device has " + std::to_string(queue_count_)};
      }
    }
  }
  if (auto owned = command(get_request(Request::kSetOwner)); !owned) return owned;
  std::vector<MemoryRegion> regions;
  std::vector<int> fds;
  for (const auto& region : memory_.regions()) {
    if (region.fd < 0) return Error{"guest RAM is not shareable, so the backend cannot map it"};
    regions.push_back({region.guest_address, region.size, reinterpret_cast<uint64_t>(region.host), 0});
    fds.push_back(region.fd);
  }
  if (regions.size() > kMaxRegions) return Error{"guest RAM has more regions than vhost-user's memory table holds"};
  return command(memory_table(regions), fds);
}

Result<void> VhostUserBackend::send(const Message& message, std::span<const int> fds, Clock::time_point deadline) {
  const std::string what = std::string(request_name(message.request));
  // Held from choosing the way to its end, so the courier cannot take over
  // (and the filters go on) between the two (send_through).
  std::lock_guard lock{send_mutex_};
  for (;;) {
    ssize_t sent;
    int error = 0;
    if (courier_ != nullptr) {
      auto through = courier_->send(socket_.get(), message.bytes, fds, deadline);
      sent = through ? static_cast<ssize_t>(*through) : -1;
      if (!through) error = through.error().error_number;
    } else {
      iovec data{const_cast<uint8_t*>(message.bytes.data()), message.bytes.size()};
      msghdr header{};
      header.msg_iov = &data;
      header.msg_iovlen = 1;
      alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int) * kMaxRegions)] = {};
      if (!fds.empty()) {
        header.msg_control = control;
        header.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
        cmsghdr* rights = CMSG_FIRSTHDR(&header);
        rights->cmsg_level = SOL_SOCKET;
        rights->cmsg_type = SCM_RIGHTS;
        rights->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
        std::memcpy(CMSG_DATA(rights), fds.data(), sizeof(int) * fds.size());
      }
      sent = ::sendmsg(socket_.get(), &header, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent < 0) error = errno;
    }
    if (sent == static_cast<ssize_t>(message.bytes.size())) return {};
    if (sent < 0 && error == EINTR) continue;
    if (sent < 0 && error == EAGAIN) {
      // The deadline bounds the loop itself: a socket that kept reporting
      // room but refusing the message would otherwise be tried forever.
      const Readiness room = Clock::now() < deadline ? wait_ready(socket_.get(), POLLOUT, deadline, stop_.get()) : Readiness::kTimedOut;
      if (room == Readiness::kReady) continue;
      if (room == Readiness::kAborted) return Error{"ember stopped while sending " + what + " to the backend"};
      return Error{"the backend did not read " + what + " in time"};
    }
    if (sent < 0 && courier_ != nullptr && error == ECHILD) return Error{"cannot send " + what + ": ember's descriptor courier is gone or stuck"};
    if (sent < 0 && courier_ != nullptr && error == EPERM) return Error{"cannot send " + what + ": ember's descriptor courier may not send its descriptors"};
    return Error{"cannot send " + what + " to the backend: " + (sent < 0 ? std::strerror(error) : "short write")};
  }
}

Result<std::vector<uint8_t>> VhostUserBackend::exchange(const Message& message, std::span<const int> fds,
                                                        std::optional<size_t> reply_size,
                                                        std::optional<std::chrono::milliseconds> timeout) {
  const std::string what = std::string(request_name(message.request));
  const auto limit = timeout.value_or(timing_.reply);
  // One deadline for the whole exchange, the send included: a backend
  // that stops reading cannot block ember either.
  const auto deadline = Clock::now() + limit;
  if (auto sent = send(message, fds, deadline); !sent) return sent.error();
  if (!reply_size) return std::vector<uint8_t>{};
  // The reply: a header, then a payload whose size the header gives, which
  // must be what this request's reply carries (parse_reply checks it; the
  // bound here keeps a lying size from making ember read on and on).
  std::vector<uint8_t> reply(kHeaderSize);
  if (!read_exactly(socket_.get(), reply, deadline, stop_.get())) {
    return Error{"the backend closed its socket or did not answer " + what + " within " + seconds(limit)};
  }
  uint32_t payload = 0;
  std::memcpy(&payload, reply.data() + 8, sizeof payload);
  if (payload != *reply_size) {
    auto refused = parse_reply(message.request, reply, *reply_size);
    return Error{refused ? "the backend's reply to " + what + " is malformed" : refused.error().message};
  }
  reply.resize(kHeaderSize + payload);
  if (!read_exactly(socket_.get(), std::span{reply}.subspan(kHeaderSize), deadline, stop_.get())) {
    return Error{"the backend's reply to " + what + " stopped halfway"};
  }
  return reply;
}

Result<void> VhostUserBackend::command(Message message, std::span<const int> fds) {
  if (!reply_ack()) {
    auto sent = exchange(message, fds, std::nullopt);
    if (!sent) return sent.error();
    return {};
  }
  // With reply-ack, ask for one (need_reply): a u64, 0 for success.
  message.bytes[4] |= static_cast<uint8_t>(kNeedReplyFlag);
  auto reply = exchange(message, fds, sizeof(uint64_t));
  if (!reply) return reply.error();
  auto status = parse_u64_reply(message.request, *reply);
  if (!status) return status.error();
  if (*status != 0) return Error{std::string("the backend refused ") + request_name(message.request)};
  return {};
}

Result<void> VhostUserBackend::start(uint64_t features, std::span<const StartedQueue> queues, QueueEvents& events) {
  {
    // Before the rings are handed over: a call right after SET_VRING_CALL
    // must find someone to tell.
    std::lock_guard lock{mutex_};
    events_ = &events;
  }
  std::vector<StartedQueue> copy(queues.begin(), queues.end());
  auto started = on_messenger([&] { return start_on_messenger(features, copy); });
  if (started) return {};
  {
    std::lock_guard lock{mutex_};
    events_ = nullptr;
  }
  // The exchange is broken (a refusal, a timeout, a reply out of step): the
  // run ends, naming the backend, which may still hold some of the rings.
  const std::string why = started.error().message;
  fail(why);
  return Error{name_ + ": " + why};
}

Result<void> VhostUserBackend::start_on_messenger(uint64_t features, std::span<const StartedQueue> queues) {
  if (!started_.empty()) stop_on_messenger();  // rings an earlier, failed start handed over
  const uint64_t with_protocol = features | (features_ & kProtocolFeaturesFeature);
  if (auto set = command(u64_request(Request::kSetFeatures, with_protocol)); !set) return set;
  for (const StartedQueue& queue : queues) {
    const uint32_t index = queue.index;
    // The rings by ember's own addresses: the memory table maps them.
    const auto host_address = [&](uint64_t guest_address, uint64_t length) {
      return reinterpret_cast<uint64_t>(memory_.slice(guest_address, length).data());
    };
    const uint64_t size = queue.layout.size;
    const VringAddresses addresses{index, host_address(queue.layout.descriptor_table, 16 * size),
                                   host_address(queue.layout.used_ring, 6 + 8 * size),
                                   host_address(queue.layout.available_ring, 6 + 2 * size)};
    const int kick[] = {queue.notify_eventfd};
    const int call[] = {call_eventfds_[queue.index].get()};
    for (const auto& [message, fds] : {
             std::pair{vring_state(Request::kSetVringNum, index, queue.layout.size), std::span<const int>{}},
             std::pair{vring_state(Request::kSetVringBase, index, 0), std::span<const int>{}},
             std::pair{vring_addresses(addresses), std::span<const int>{}},
             std::pair{u64_request(Request::kSetVringKick, index), std::span<const int>{kick}},
             std::pair{u64_request(Request::kSetVringCall, index), std::span<const int>{call}},
         }) {
      if (auto done = command(message, fds); !done) return done;
    }
    if ((features_ & kProtocolFeaturesFeature) != 0) {
      // With protocol features, rings start disabled until enabled.
      if (auto enabled = command(vring_state(Request::kSetVringEnable, index, 1)); !enabled) return enabled;
    }
    started_.push_back(queue.index);
  }
  return {};
}

void VhostUserBackend::stop() {
  {
    std::lock_guard lock{mutex_};
    events_ = nullptr;
  }
  if (auto stopped = on_messenger([this] { stop_on_messenger(); return Result<void>{}; }); !stopped) {
    log::warning(name_ + ": " + stopped.error().message);
  }
}

void VhostUserBackend::stop_on_messenger() {
  // GET_VRING_BASE stops a ring: from its answer on the backend leaves it.
  for (const uint16_t index : started_) {
    auto reply = exchange(vring_state(Request::kGetVringBase, index, 0), {}, 2 * sizeof(uint32_t));
    if (!reply) {
      fail(reply.error().message);
      break;
    }
    auto state = parse_vring_state_reply(Request::kGetVringBase, *reply);
    if (!state || state->index != index) {
      fail(state ? "the backend answered GET_VRING_BASE for another ring" : state.error().message);
      break;
    }
  }
  started_.clear();
}

void VhostUserBackend::expect_close() {
  {
    std::lock_guard lock{mutex_};
    failed_ = true;  // fail() reports nothing from now on; messages are refused
  }
  // An exchange waiting for the backend gives up now (a liveness check may
  // wait 20 s), and the watcher stops: no VCPU runs any more.
  const uint64_t one = 1;
  (void)!::write(stop_.get(), &one, sizeof one);
}

void VhostUserBackend::detach() {
  std::unique_lock lock{mutex_};
  events_ = nullptr;
  changed_.wait(lock, [this] { return !delivering_; });
}

Result<void> VhostUserBackend::on_messenger(const std::function<Result<void>()>& job) {
  std::unique_lock lock{mutex_};
  if (failed_) return Error{"the backend has failed"};
  changed_.wait(lock, [this] { return !job_ || stopping_; });
  if (stopping_) return Error{"ember is stopping"};
  job_ = job;
  job_result_.reset();
  changed_.notify_all();
  changed_.wait(lock, [this] { return job_result_.has_value() || stopping_; });
  if (!job_result_) return Error{"ember is stopping"};
  auto result = std::move(*job_result_);
  job_result_.reset();
  job_ = nullptr;
  changed_.notify_all();
  return result;
}

void VhostUserBackend::run_messenger() {
  std::unique_lock lock{mutex_};
  for (;;) {
    const bool woken = changed_.wait_for(lock, timing_.liveness_interval, [this] { return stopping_ || (job_ && !job_result_); });
    if (stopping_) return;
    if (!woken) {
      if (failed_) continue;  // the run is ending; nothing more to ask
      lock.unlock();
      check_alive();
      lock.lock();
      continue;
    }
    auto job = job_;
    lock.unlock();
    auto result = job();
    lock.lock();
    job_result_ = std::move(result);
    changed_.notify_all();
  }
}

void VhostUserBackend::check_alive() {
  auto reply = exchange(get_request(Request::kGetFeatures), {}, sizeof(uint64_t), timing_.liveness_reply);
  if (!reply) return fail(reply.error().message);
  auto features = parse_u64_reply(Request::kGetFeatures, *reply);
  if (!features) return fail(features.error().message);
  if (*features != features_) return fail("the backend's features changed while the guest ran");
}

std::vector<int> VhostUserBackend::lendable_fds() const {
  std::vector<int> fds{socket_.get()};
  for (const auto& call : call_eventfds_) fds.push_back(call.get());
  return fds;
}

void VhostUserBackend::send_through(FdCourier& courier) {
  std::lock_guard lock{send_mutex_};
  courier_ = &courier;
}

void VhostUserBackend::run_watcher() {
  std::vector<pollfd> fds{{stop_.get(), POLLIN, 0}, {socket_.get(), POLLRDHUP, 0}};
  for (const auto& call : call_eventfds_) fds.push_back({call.get(), POLLIN, 0});
  for (;;) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      fail(std::string("cannot wait for the backend: ") + std::strerror(errno));
      return;
    }
    if (fds[0].revents != 0) return;
    if ((fds[1].revents & (POLLRDHUP | POLLHUP | POLLERR)) != 0) {
      fail("the backend closed its socket");
      return;
    }
    for (size_t i = 2; i < fds.size(); ++i) {
      if (fds[i].revents == 0) continue;
      uint64_t count;
      (void)!::read(fds[i].fd, &count, sizeof count);
      QueueEvents* events;
      {
        std::lock_guard lock{mutex_};
        events = events_;
        delivering_ = events != nullptr;
      }
      if (events == nullptr) continue;
      events->used_buffers(static_cast<uint16_t>(i - 2));
      {
        std::lock_guard lock{mutex_};
        delivering_ = false;
      }
      changed_.notify_all();
    }
  }
}

void VhostUserBackend::fail(const std::string& why) {
  {
    std::lock_guard lock{mutex_};
    if (failed_ || stopping_) return;
    failed_ = true;
  }
  if (on_failure_) on_failure_(name_ + ": " + why);
}

}  // namespace ember::virtio
