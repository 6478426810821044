#include "virtio/vsock_device.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "base/log.h"
#include "base/strings.h"
#include "virtio/transport.h"
#include "virtio/vsock_unix_socket.h"

namespace ember::virtio {
namespace {

constexpr size_t kHeaderBytes = sizeof(VsockHeader);
constexpr size_t kMaxConnectLine = 32;  // "CONNECT 4294967295\n" fits

}  // namespace

Result<VsockHeader> parse_packet_header(const VsockHeader& header, uint64_t guest_cid, uint32_t payload_available) {
  if (header.src_cid != guest_cid) return Error{"source CID " + std::to_string(header.src_cid) + " is not the guest's"};
  if (header.dst_cid != kVsockHostCid) return Error{"destination CID " + std::to_string(header.dst_cid) + " is not the host (2)"};
  if (header.type != kVsockTypeStream) return Error{"socket type " + std::to_string(header.type) + " is not stream (1)"};
  if (header.op < static_cast<uint16_t>(VsockOp::kRequest) || header.op > static_cast<uint16_t>(VsockOp::kCreditRequest)) {
    return Error{"unknown operation " + std::to_string(header.op)};
  }
  if (header.op != static_cast<uint16_t>(VsockOp::kReadWrite) && header.len != 0) {
    return Error{"a payload of " + std::to_string(header.len) + " bytes on a packet that carries none"};
  }
  if (header.len > kVsockMaxPayload) return Error{"payload of " + std::to_string(header.len) + " bytes is over 64 KiB"};
  if (header.len > payload_available) {
    return Error{"header says " + std::to_string(header.len) + " payload bytes, the buffers hold " + std::to_string(payload_available)};
  }
  return header;
}

Result<std::unique_ptr<VsockDevice>> VsockDevice::create(uint64_t guest_cid, const std::string& socket_path) {
  auto listener = listen_for_host_programs(socket_path, kMaxConnections);
  if (!listener) return listener.error();
  FileDescriptor epoll{::epoll_create1(EPOLL_CLOEXEC)};
  if (!epoll.valid()) return Error{std::string("cannot create an epoll descriptor: ") + std::strerror(errno)};
  return std::unique_ptr<VsockDevice>{new VsockDevice(guest_cid, socket_path, std::move(*listener), std::move(epoll))};
}

VsockDevice::VsockDevice(uint64_t guest_cid, std::string socket_path, FileDescriptor listener, FileDescriptor epoll)
    : guest_cid_{guest_cid},
      socket_path_{std::move(socket_path)},
      listener_{std::move(listener)},
      epoll_{std::move(epoll)},
      pending_{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)} {
  std::memcpy(config_.data(), &guest_cid_, sizeof guest_cid_);  // §5.10.4: le64 guest_cid
  watch(listener_.get(), EPOLLIN, true);
  watch(pending_.get(), EPOLLIN, true);
}

VsockDevice::~VsockDevice() = default;

void VsockDevice::watch(int fd, uint32_t events, bool add) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &event) != 0) {
    log::error(std::string("virtio-vsock: cannot watch a host socket: ") + std::strerror(errno));
  }
}

void VsockDevice::unwatch(int fd) { (void)::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr); }

// What the host socket of a connection should wake the worker for: data
// only while the guest has credit, writability only while bytes wait.
// A socket with nothing to wait for leaves the epoll set altogether: epoll
// reports hang-ups and errors even for no events, and a closed peer would
// keep the worker spinning.
void VsockDevice::rewatch(Connection& connection) {
  const uint32_t events = connection.wanted_events();
  if (events == 0) {
    if (connection.watched) unwatch(connection.socket.get());
    connection.watched = false;
    return;
  }
  watch(connection.socket.get(), events, !connection.watched);
  connection.watched = true;
}

VsockHeader VsockDevice::header_for_guest(VsockOp op, Key key, uint32_t flags) const {
  VsockHeader header{};
  header.src_cid = kVsockHostCid;
  header.dst_cid = guest_cid_;
  header.src_port = key.second;
  header.dst_port = key.first;
  header.type = kVsockTypeStream;
  header.op = static_cast<uint16_t>(op);
  header.flags = flags;
  return header;
}

// Every packet to the guest carries ember's credit (§5.10.6.3): the buffer
// it has and, for a live connection, what the host socket took so far.
void VsockDevice::stamp_credit(VsockHeader& header, Connection* connection) {
  if (connection != nullptr) return connection->stamp(header);
  header.buf_alloc = kSmallBufferBytes;  // no connection: nothing to credit
  header.fwd_cnt = 0;
}

bool VsockDevice::queue_control(VsockOp op, uint32_t guest_port, uint32_t host_port, uint32_t flags) {
  // A dropped reset leaves the guest's packet unanswered, which only a
  // misbehaving guest sees; a dropped credit update is queued again by the
  // next receive round (queue_credit_update).
  if (control_.size() >= kMaxQueuedControl && (op == VsockOp::kReset || op == VsockOp::kCreditUpdate)) {
    if (dropped_control_++ % 10000 == 0) {
      EMBER_GUEST_WARNING("virtio-vsock: the guest takes no packets (no receive buffers) while it keeps sending; " +
                          std::to_string(dropped_control_) + " resets and credit updates dropped so far");
    }
    return false;
  }
  control_.push_back(header_for_guest(op, {guest_port, host_port}, flags));
  (void)signal_eventfd(pending_.get());
  return true;
}

uint32_t VsockDevice::new_host_port() {
  // Ports for host-initiated connections, above the ones people listen on
  // and never one in use.
  for (;;) {
    const uint32_t port = next_host_port_++;
    if (next_host_port_ == 0) next_host_port_ = 1u << 30;
    bool used = false;
    for (const auto& [key, connection] : connections_) used = used || key.second == port;
    if (!used) return port;
  }
}

VsockDevice::Connection& VsockDevice::open_connection(Key key) {
  // A full buffer only while kBufferBudget still holds a small one for
  // every connection that may open after this one: then the sum of all
  // buffers stays within the budget whatever the order of opens and closes.
  const uint64_t later = kMaxConnections - std::min(kMaxConnections, open_count() + 1);
  const bool full_fits = allocated_bytes_ + kBufferBytes + later * kSmallBufferBytes <= kBufferBudget;
  Connection& connection = connections_[key];
  connection.buf_alloc = full_fits ? kBufferBytes : kSmallBufferBytes;
  allocated_bytes_ += connection.buf_alloc;
  return connection;
}

void VsockDevice::close_connection(Key key, bool tell_guest) {
  const auto found = connections_.find(key);
  if (found == connections_.end()) return;
  // What was queued for it (its RESPONSE, a host's REQUEST, a credit
  // update) would only draw a reset now; dropped, it cannot pile up for a
  // guest that opens and resets connections while it takes nothing.
  std::erase_if(control_, [&key](const VsockHeader& queued) { return queued.dst_port == key.first && queued.src_port == key.second; });
  if (tell_guest) queue_control(VsockOp::kReset, key.first, key.second);
  allocated_bytes_ -= found->second.buf_alloc;
  connections_.erase(found);  // closing the socket removes it from the epoll set
  // A descriptor is free again: a listener paused for want of one gets a
  // receive round to try again.
  if (listener_paused_) (void)signal_eventfd(pending_.get());
}

void VsockDevice::reset_by_guest(Key key) {
  const auto found = connections_.find(key);
  if (found == connections_.end()) return;
  Connection& connection = found->second;
  connection.guest_shuts(true, true);  // a last flush; what the socket cannot take yet drains below
  if (connection.bytes_wait_for_host()) {
    // Its share of the budget goes with it (close_connection below gives
    // the shell's back), and comes back once it drained.
    allocated_bytes_ += connection.buf_alloc;
    rewatch(connection);  // the host socket's room, and nothing else, wakes the worker
    draining_.push_back(std::move(connection));
  }
  close_connection(key, false);  // what is left in the table is an empty shell
}

void VsockDevice::flush_draining() {
  const auto drained = std::erase_if(draining_, [this](Connection& connection) {
    connection.flush_to_host();
    if (connection.bytes_wait_for_host()) return false;
    allocated_bytes_ -= connection.buf_alloc;
    return true;  // closing the socket removes it from the epoll set
  });
  // Descriptors are free again, as in close_connection.
  if (drained != 0 && listener_paused_) (void)signal_eventfd(pending_.get());
}

uint32_t VsockDevice::handle(uint16_t queue, const DescriptorChain& chain) {
  if (queue != kTransmitQueue) return 0;
  ChainReader reader{chain};
  const auto raw = reader.read_object<VsockHeader>();
  if (!raw) {
    EMBER_GUEST_WARNING("virtio-vsock: transmit buffer shorter than a packet header; dropped");
    return 0;
  }
  const auto header = parse_packet_header(*raw, guest_cid_, reader.remaining());
  if (!header) {
    EMBER_GUEST_WARNING("virtio-vsock: packet refused: " + header.error().message);
    // A refused packet ends its connection, if the guest meant one.
    if (raw->op != static_cast<uint16_t>(VsockOp::kReset) && raw->src_cid == guest_cid_) {
      close_connection({raw->src_port, raw->dst_port}, false);
      queue_control(VsockOp::kReset, raw->src_port, raw->dst_port);
    }
    return 0;
  }
  const auto op = static_cast<VsockOp>(header->op);
  const Key key{header->src_port, header->dst_port};
  if (op == VsockOp::kRequest) {
    guest_request(*header);
    return 0;
  }
  const auto found = connections_.find(key);
  if (found == connections_.end()) {
    if (op != VsockOp::kReset) queue_control(VsockOp::kReset, key.first, key.second);  // §5.10.6.2
    return 0;
  }
  Connection& connection = found->second;
  connection.take_guest_credit(*header);
  switch (op) {
    case VsockOp::kResponse:
      if (!connection.established) {
        connection.established = true;
        connection.greet_host(key.second);
      }
      break;
    case VsockOp::kReadWrite:
      if (!connection.established) {
        close_connection(key, true);
        return 0;
      }
      if (!connection.forward_to_host(reader, header->len)) {
        EMBER_GUEST_WARNING("virtio-vsock: the guest sent more than its credit allowed; connection reset");
        close_connection(key, true);
        return 0;
      }
      break;
    case VsockOp::kShutdown:
      // §5.10.6.4. With both directions shut the connection ends with RST,
      // but only once the bytes the guest sent before it reached the host
      // socket (ended_by_guest): a guest's close() sends both flags at once.
      connection.guest_shuts((header->flags & kShutdownSend) != 0, (header->flags & kShutdownReceive) != 0);
      break;
    case VsockOp::kReset:
      reset_by_guest(key);
      return 0;
    case VsockOp::kCreditRequest:
      queue_credit_update(connection, key);
      break;
    case VsockOp::kCreditUpdate:
    case VsockOp::kRequest:
      break;
  }
  if (connection.broken || connection.ended_by_guest()) {
    close_connection(key, true);
    return 0;
  }
  rewatch(connection);
  return 0;
}

void VsockDevice::guest_request(const VsockHeader& header) {
  const Key key{header.src_port, header.dst_port};
  // Host programs still writing their CONNECT line count too: each may
  // become a connection.
  if (connections_.contains(key) || open_count() + pending_hosts_.size() >= kMaxConnections) {
    queue_control(VsockOp::kReset, key.first, key.second);
    return;
  }
  // The guest connects to host port P: ember connects to PATH_P
  // (vsock_unix_socket.h says whose it must be).
  const std::string path = socket_path_ + "_" + std::to_string(header.dst_port);
  auto socket = connect_to_host_program(path);
  if (!socket || !*socket) {
    if (!socket) EMBER_GUEST_WARNING("virtio-vsock: not connecting the guest to '" + path + "': " + socket.error().message);
    queue_control(VsockOp::kReset, key.first, key.second);  // not ours, or nobody listens there
    return;
  }
  Connection& connection = open_connection(key);
  connection.socket = std::move(**socket);
  connection.established = true;
  connection.take_guest_credit(header);
  rewatch(connection);
  queue_control(VsockOp::kResponse, key.first, key.second);
}

void VsockDevice::queue_credit_update(Connection& connection, Key key) {
  // Only a queued update counts as told: a dropped one leaves fwd_cnt_told
  // behind, so the next receive round queues it again.
  if (queue_control(VsockOp::kCreditUpdate, key.first, key.second)) connection.fwd_cnt_told = connection.fwd_cnt;
}

void VsockDevice::accept_host_connections() {
  if (listener_paused_) {
    watch(listener_.get(), EPOLLIN, false);
    listener_paused_ = false;
  }
  for (;;) {
    FileDescriptor socket{::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)};
    if (!socket.valid()) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        // Out of descriptors: the listener would stay ready and the worker
        // spin on it. It is not watched until the next round another event
        // brings (a connection closing, the guest sending); host clients
        // wait in its backlog meanwhile.
        watch(listener_.get(), 0, false);
        listener_paused_ = true;
        EMBER_GUEST_WARNING("virtio-vsock: out of file descriptors; host connections wait until one closes");
      }
      return;  // EAGAIN: nobody else is waiting
    }
    if (pending_hosts_.size() + open_count() >= kMaxConnections) continue;  // closed at once
    const int fd = socket.get();
    pending_hosts_.push_back({std::move(socket), {}});
    watch(fd, EPOLLIN, true);
  }
}

// A host program's "CONNECT <port>\n": the guest is asked to accept it.
void VsockDevice::read_connect_lines() {
  for (auto it = pending_hosts_.begin(); it != pending_hosts_.end();) {
    char byte = 0;
    bool drop = false, complete = false;
    // One byte at a time, so nothing after the line is consumed here.
    while (!complete && !drop) {
      const ssize_t got = ::read(it->socket.get(), &byte, 1);
      if (got < 0 && errno == EAGAIN) break;
      if (got <= 0 || it->line.size() >= kMaxConnectLine) {
        drop = true;
        break;
      }
      if (byte == '\n') complete = true;
      else it->line += byte;
    }
    if (!complete && !drop) {
      ++it;
      continue;
    }
    std::optional<uint64_t> port;
    if (complete && it->line.starts_with("CONNECT ")) port = parse_decimal(std::string_view{it->line}.substr(8));
    if (!port || *port > 0xffffffffu || open_count() >= kMaxConnections) {
      it = pending_hosts_.erase(it);  // not the protocol, or no room (the guest filled it meanwhile): closed
      continue;
    }
    const Key key{static_cast<uint32_t>(*port), new_host_port()};
    Connection& connection = open_connection(key);
    connection.socket = std::move(it->socket);
    connection.watched = true;  // watched for its CONNECT line
    it = pending_hosts_.erase(it);
    rewatch(connection);
    queue_control(VsockOp::kRequest, key.first, key.second);
  }
}

// Fills one receive chain with up to the guest's credit from the
// connection's host socket.
VsockDevice::Sent VsockDevice::send_guest_data(Connection& connection, Key key, ReceiveBuffers& buffers) {
  const uint32_t credit = connection.credit_for_guest();
  if (!connection.sends_to_guest() || credit == 0) return Sent::kNothing;
  auto chain = buffers.take();
  if (!chain) return Sent::kNoBuffer;
  ChainWriter writer{*chain};
  if (writer.remaining() <= kHeaderBytes) {
    EMBER_GUEST_WARNING("virtio-vsock: receive buffer too small for a packet; returned empty");
    buffers.fill(std::array{UsedElement{chain->head, 0}});
    return Sent::kPacket;
  }
  (void)writer.skip(kHeaderBytes);
  const uint32_t room = std::min<uint32_t>({writer.remaining(), credit, kVsockMaxPayload});
  auto pieces = writer.take(room);
  // An indirect table may split the buffer into more pieces than one readv
  // takes: the packet then carries what the first IOV_MAX hold.
  if (pieces && pieces->size() > IOV_MAX) pieces->resize(IOV_MAX);
  ssize_t got = pieces ? ::readv(connection.socket.get(), pieces->data(), static_cast<int>(pieces->size())) : -1;
  if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
    buffers.give_back(1);
    return Sent::kNothing;
  }
  VsockHeader header;
  if (got <= 0) {
    // EOF or an error: the host will send no more (§5.10.6.4).
    header = header_for_guest(VsockOp::kShutdown, key, kShutdownSend);
    connection.host_closed = true;
    got = 0;
  } else {
    header = header_for_guest(VsockOp::kReadWrite, key);
    header.len = static_cast<uint32_t>(got);
    connection.tx_cnt += static_cast<uint32_t>(got);
  }
  stamp_credit(header, &connection);
  ChainWriter header_writer{*chain};
  (void)header_writer.write_object(header);
  buffers.fill(std::array{UsedElement{chain->head, static_cast<uint32_t>(kHeaderBytes + static_cast<size_t>(got))}});
  return Sent::kPacket;
}

ReceiveWait VsockDevice::receive(uint16_t queue, ReceiveBuffers& buffers) {
  if (queue == kEventQueue) {
    // The only event ember sends: a transport reset, after a restore.
    if (!transport_reset_due_) return ReceiveWait::kBuffers;
    auto chain = buffers.take();
    if (!chain) return ReceiveWait::kBuffers;  // sent once the driver gives an event buffer
    const uint32_t transport_reset = 0;  // struct virtio_vsock_event { le32 id; }: VIRTIO_VSOCK_EVENT_TRANSPORT_RESET
    ChainWriter writer{*chain};
    const bool fits = writer.write_object(transport_reset);
    if (!fits) EMBER_GUEST_WARNING("virtio-vsock: an event buffer that is not a writable 4-byte buffer; the transport reset is lost");
    buffers.fill(std::array{UsedElement{chain->head, fits ? 4u : 0u}});
    transport_reset_due_ = false;
    return ReceiveWait::kBuffers;
  }
  uint64_t drained;
  (void)::read(pending_.get(), &drained, sizeof drained);
  accept_host_connections();
  read_connect_lines();
  for (auto it = connections_.begin(); it != connections_.end();) {
    it->second.flush_to_host();
    const Key key = it->first;
    ++it;
    const Connection& flushed = connections_.at(key);
    if (flushed.broken || flushed.ended_by_guest()) close_connection(key, true);
  }
  flush_draining();

  // Control packets first: they carry no payload and open or end connections.
  while (!control_.empty()) {
    auto chain = buffers.take();
    if (!chain) return ReceiveWait::kBuffers;
    VsockHeader header = control_.front();
    const auto found = connections_.find({header.dst_port, header.src_port});
    stamp_credit(header, found != connections_.end() ? &found->second : nullptr);
    ChainWriter writer{*chain};
    const bool fits = writer.write_object(header);
    if (!fits) EMBER_GUEST_WARNING("virtio-vsock: receive buffer too small for a packet header; the packet is lost");
    buffers.fill(std::array{UsedElement{chain->head, fits ? static_cast<uint32_t>(kHeaderBytes) : 0u}});
    control_.pop_front();
  }
  // Then data, a chain per connection in turn, while chains, credit and
  // data last (bounded: each round sends at least one packet).
  for (bool progress = true; progress;) {
    progress = false;
    for (auto& [key, connection] : connections_) {
      const Sent sent = send_guest_data(connection, key, buffers);
      if (sent == Sent::kNoBuffer) return ReceiveWait::kBuffers;
      progress = progress || sent == Sent::kPacket;
    }
  }
  // Room freed on the host side is told to the guest before it runs dry;
  // the pending eventfd brings the worker back to send it.
  for (auto& [key, connection] : connections_) {
    if (connection.credit_update_due()) queue_credit_update(connection, key);
    rewatch(connection);
  }
  return ReceiveWait::kHostData;
}

void VsockDevice::reset() {
  transport_reset_due_ = false;
  connections_.clear();
  draining_.clear();
  allocated_bytes_ = 0;
  pending_hosts_.clear();
  control_.clear();
}

}  // namespace ember::virtio
