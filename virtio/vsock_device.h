// virtio-vsock (virtio 1.2 §5.10) with a userspace bridge to Unix sockets,
// as Firecracker does it, because hosts without vhost-vsock (this project's
// nested development host among them) have no other way and because the
// bridge keeps every guest packet inside ember's checked walker:
//
//  - the guest connects to the host (CID 2) port P: ember connects to the
//    Unix socket "PATH_P" and answers RESPONSE, or RST if nobody listens;
//  - a host program connects to the Unix socket PATH and writes
//    "CONNECT P\n": ember asks the guest to connect to its port P and, once
//    the guest answers, writes "OK N\n" (N: the host-side port ember chose)
//    before the data flows.
//
// Stream sockets only (no VIRTIO_VSOCK_F_SEQPACKET). Flow control follows
// §5.10.6.3: ember sends the guest no more than the guest's buf_alloc
// allows, and advertises a buffer of its own per connection; bytes a host
// socket cannot take at once wait in that connection's buffer, which the
// credit keeps within what ember advertised. A connection's buffer is fixed
// when it opens: kBufferBytes while the device's kBufferBudget allows it,
// else kSmallBufferBytes. Every connection's buffer together never exceeds
// kBufferBudget, so a guest (and host programs that never read) cannot make
// ember grow beyond it.
//
// Ending (§5.10.6.4): a guest's close() shuts both directions at once. The
// RST that ends the connection waits until the bytes the guest sent before
// reached the host socket, so the host program reads them all, then EOF.
// A guest's own RST (a Linux guest sends one when ember's is slow to come)
// ends the connection at once, but its last bytes still go to the host
// program, as a Linux host socket keeps what it received: the connection
// leaves the table and drains on its own (draining_).
//
// The parts: vsock_connection.h, one connection's state and credit;
// vsock_unix_socket.h, the Unix sockets; this file, the device: the table
// of connections and its limits, the guest's packets, host programs'
// CONNECT lines.
//
// Threads: everything runs on the transport's worker thread (handle and
// receive); host sockets are watched through one epoll descriptor, which is
// the device's host_data_fd.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/file_descriptor.h"
#include "base/result.h"
#include "virtio/virtio_device.h"
#include "virtio/vsock_connection.h"
#include "virtio/vsock_packet.h"

namespace ember::virtio {

class VsockDevice final : public VirtioDevice {
 public:
  static constexpr uint16_t kReceiveQueue = 0, kTransmitQueue = 1, kEventQueue = 2;
  static constexpr uint32_t kBufferBytes = 256 * 1024;     // buf_alloc of a connection while the budget allows
  static constexpr uint32_t kSmallBufferBytes = 4 * 1024;  // buf_alloc once it does not
  static constexpr size_t   kMaxConnections = 1024;
  // What every connection's buffer may hold together: about 240 connections
  // at kBufferBytes, the rest at kSmallBufferBytes (README, "Limits").
  static constexpr uint64_t kBufferBudget = 64ull << 20;
  static_assert(kMaxConnections * kSmallBufferBytes < kBufferBudget);
  // Resets and credit updates waiting for the guest's receive buffers: a
  // guest that floods TX and posts no RX buffers finds the rest dropped
  // (and counted), as Firecracker's muxer bounds its RX queue. Requests and
  // responses are never dropped: there is one at most per open connection,
  // and a connection that closes takes its queued packets with it.
  static constexpr size_t   kMaxQueuedControl = 256;

  // Listens on `socket_path` for host programs (removing a stale socket
  // file first); errors name the path.
  static Result<std::unique_ptr<VsockDevice>> create(uint64_t guest_cid, const std::string& socket_path);
  ~VsockDevice() override;

  std::string_view         name() const override { return "virtio-vsock"; }
  uint32_t                 device_type() const override { return 19; }
  uint64_t                 device_features() const override { return 0; }  // stream only
  uint16_t                 queue_count() const override { return 3; }
  std::span<const uint8_t> config_space() const override { return config_; }  // le64 guest_cid
  uint32_t                 handle(uint16_t queue, const DescriptorChain& chain) override;
  void                     reset() override;
  // After a restore no connection of the snapshot exists on the host side:
  // the guest is sent VIRTIO_VSOCK_EVENT_TRANSPORT_RESET (§5.10.6.6), on
  // which it resets its connections and reads its CID again.
  void                     restored() override { transport_reset_due_ = true; }

  bool        is_receive_queue(uint16_t queue) const override { return queue != kTransmitQueue; }
  int         host_data_fd() const override { return epoll_.get(); }
  ReceiveWait receive(uint16_t queue, ReceiveBuffers& buffers) override;

 private:
  using Connection = VsockConnection;
  // A host program that has not finished its "CONNECT <port>\n" yet.
  struct PendingHost {
    FileDescriptor socket;
    std::string    line;
  };
  using Key = std::pair<uint32_t, uint32_t>;  // guest port, host port
  enum class Sent { kPacket, kNothing, kNoBuffer };

  VsockDevice(uint64_t guest_cid, std::string socket_path, FileDescriptor listener, FileDescriptor epoll);

  void     guest_request(const VsockHeader& header);
  void     accept_host_connections();
  void     read_connect_lines();
  Sent     send_guest_data(Connection& connection, Key key, ReceiveBuffers& buffers);
  // A packet header from the host end of connection `key` to the guest.
  VsockHeader header_for_guest(VsockOp op, Key key, uint32_t flags = 0) const;
  static void stamp_credit(VsockHeader& header, Connection* connection);
  bool     queue_control(VsockOp op, uint32_t guest_port, uint32_t host_port, uint32_t flags = 0);
  void     queue_credit_update(Connection& connection, Key key);
  // A new connection, with its share of kBufferBudget.
  Connection& open_connection(Key key);
  void     close_connection(Key key, bool tell_guest);
  // The guest's RST: the connection ends, and bytes it holds for the host
  // socket drain off the table.
  void     reset_by_guest(Key key);
  void     flush_draining();
  // Connections that hold a host socket and a buffer: kMaxConnections.
  size_t   open_count() const { return connections_.size() + draining_.size(); }
  void     watch(int fd, uint32_t events, bool add);
  void     rewatch(Connection& connection);
  void     unwatch(int fd);
  uint32_t new_host_port();

  const uint64_t              guest_cid_;
  const std::string           socket_path_;
  FileDescriptor              listener_;
  FileDescriptor              epoll_;
  std::array<uint8_t, 8>      config_{};
  std::map<Key, Connection>   connections_;
  std::vector<Connection>     draining_;    // reset by the guest, still sending its last bytes to the host
  uint64_t                    allocated_bytes_ = 0;  // every connection's buf_alloc together, draining ones too
  std::vector<PendingHost>    pending_hosts_;
  bool                        listener_paused_ = false;  // out of descriptors: not watched until the next round
  std::deque<VsockHeader>     control_;     // packets for the guest without payload
  uint64_t                    dropped_control_ = 0;
  FileDescriptor              pending_;     // eventfd in the epoll set: control_ has packets
  uint32_t                    next_host_port_ = 1u << 30;
  bool                        transport_reset_due_ = false;  // set with the queues paused, read by the worker
};

}  // namespace ember::virtio
