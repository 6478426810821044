#include "virtio/vsock_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string>

namespace ember::virtio {

uint32_t VsockConnection::credit_for_guest() const {
  const uint32_t in_flight = tx_cnt - peer_fwd_cnt;
  return in_flight >= peer_buf_alloc ? 0 : peer_buf_alloc - in_flight;
}

void VsockConnection::take_guest_credit(const VsockHeader& header) {
  peer_buf_alloc = header.buf_alloc;
  peer_fwd_cnt = header.fwd_cnt;
}

void VsockConnection::stamp(VsockHeader& header) {
  header.buf_alloc = buf_alloc;
  header.fwd_cnt = fwd_cnt;
  fwd_cnt_told = fwd_cnt;
}

void VsockConnection::greet_host(uint32_t host_port) {
  const std::string ok = "OK " + std::to_string(host_port) + "\n";
  to_host.insert(to_host.end(), ok.begin(), ok.end());
  preamble = static_cast<uint32_t>(ok.size());  // ember's bytes, not the guest's
  flush_to_host();
}

bool VsockConnection::forward_to_host(ChainReader& reader, uint32_t length) {
  if (length == 0) return true;
  // ember's own "OK" line ahead of the guest's bytes is not the guest's to pay for.
  if (to_host.size() - preamble + length > buf_alloc) return false;
  const size_t at = to_host.size();
  to_host.resize(at + length);
  if (!reader.read({to_host.data() + at, length})) return false;  // parse_packet_header checked the length
  flush_to_host();
  return true;
}

void VsockConnection::flush_to_host() {
  while (!to_host.empty()) {
    // MSG_NOSIGNAL: a host program that went away is an error here, not SIGPIPE.
    const ssize_t sent = ::send(socket.get(), to_host.data(), to_host.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && errno != EAGAIN) broken = true;  // the host side is gone: the connection ends
    if (sent <= 0) break;  // EAGAIN: EPOLLOUT brings the worker back
    to_host.erase(to_host.begin(), to_host.begin() + sent);
    const auto ours = std::min(preamble, static_cast<uint32_t>(sent));
    preamble -= ours;
    fwd_cnt += static_cast<uint32_t>(sent) - ours;
  }
  if (to_host.empty() && guest_closed && !host_write_shut) {
    ::shutdown(socket.get(), SHUT_WR);
    host_write_shut = true;
  }
}

void VsockConnection::guest_shuts(bool send, bool receive) {
  if (send) guest_closed = true;
  if (receive && !guest_takes_no_more) {
    guest_takes_no_more = true;
    ::shutdown(socket.get(), SHUT_RD);  // a Unix stream socket's peer then gets EPIPE on write
  }
  flush_to_host();
}

uint32_t VsockConnection::wanted_events() const {
  uint32_t events = 0;
  if (sends_to_guest() && credit_for_guest() > 0) events |= EPOLLIN;
  if (bytes_wait_for_host()) events |= EPOLLOUT;
  return events;
}

}  // namespace ember::virtio
