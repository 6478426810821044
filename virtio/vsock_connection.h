// One stream connection of the virtio-vsock bridge (virtio 1.2 §5.10.6):
// its host socket, the credit both ways (§5.10.6.3) and the guest bytes the
// host socket has not taken yet. The device (vsock_device.h) owns the table
// of connections; this is the state and the flow control of one.
#pragma once

#include <cstdint>
#include <vector>

#include "base/file_descriptor.h"
#include "virtio/descriptor_chain.h"
#include "virtio/vsock_packet.h"

namespace ember::virtio {

struct VsockConnection {
  FileDescriptor       socket;
  bool                 established = false;    // RESPONSE sent or received
  uint32_t             buf_alloc = 0;          // ember's buffer for it, fixed when it opens
  uint32_t             peer_buf_alloc = 0;     // the guest's credit (§5.10.6.3)
  uint32_t             peer_fwd_cnt = 0;
  uint32_t             tx_cnt = 0;             // bytes ember sent the guest
  uint32_t             fwd_cnt = 0;            // guest bytes the host socket took
  uint32_t             fwd_cnt_told = 0;       // the fwd_cnt the guest last heard
  std::vector<uint8_t> to_host;                // bytes the socket could not take yet
  uint32_t             preamble = 0;           // leading to_host bytes that are ember's "OK" line
  bool                 host_closed = false;    // EOF from the host socket; SHUTDOWN sent
  bool                 guest_closed = false;   // the guest will send no more (SHUTDOWN with SEND)
  bool                 guest_takes_no_more = false;  // SHUTDOWN with RECEIVE: nothing more goes to it
  bool                 host_write_shut = false;
  bool                 broken = false;         // writing to the host socket failed
  bool                 watched = false;        // in the device's epoll set

  // Whether host bytes still go to the guest: once both sides said hello,
  // until the host's EOF or the guest's SHUTDOWN with RECEIVE (§5.10.6.4).
  bool     sends_to_guest() const { return established && !host_closed && !guest_takes_no_more; }
  // The guest shut both directions and every byte it sent reached the
  // host socket: the connection ends with RST (§5.10.6.4).
  bool     ended_by_guest() const { return guest_closed && guest_takes_no_more && to_host.empty(); }
  // Bytes of the guest's wait for a host socket that can still take them.
  bool     bytes_wait_for_host() const { return !to_host.empty() && !broken; }
  // What the guest can still take (§5.10.6.3.1).
  uint32_t credit_for_guest() const;
  // The guest's header's view of its own buffer.
  void     take_guest_credit(const VsockHeader& header);
  // ember's credit into a packet for the guest: its buffer and what the
  // host socket took so far, which the guest has then heard.
  void     stamp(VsockHeader& header);
  // Whether the host socket took enough since the guest last heard that it
  // should hear now, before it runs dry; never once it will send no more.
  bool     credit_update_due() const { return !guest_closed && fwd_cnt - fwd_cnt_told >= buf_alloc / 2; }

  // The guest's SHUTDOWN (§5.10.6.4): it sends no more (`send`), or takes
  // no more (`receive`), after which the host program's writes fail with
  // EPIPE, as they would on a Linux host's vsock socket.
  void guest_shuts(bool send, bool receive);
  // The line a host-initiated connection's program reads first: "OK N\n"
  // with ember's host port, ahead of the guest's bytes and not counted as
  // theirs.
  void greet_host(uint32_t host_port);
  // The guest's `length` payload bytes from `reader`, sent on or kept;
  // false when they exceed ember's buffer (the guest overran its credit).
  bool forward_to_host(ChainReader& reader, uint32_t length);
  // Sends what waits; a socket that refuses for good marks the connection
  // broken. Shuts the socket's write side once the guest closed and all
  // went out.
  void flush_to_host();
  // The epoll events the host socket should wake the worker for: data only
  // while the guest has credit, writability only while bytes wait. 0: none.
  uint32_t wanted_events() const;
};

}  // namespace ember::virtio
