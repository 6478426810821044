// A TAP network interface opened for virtio-net: Ethernet frames, each
// preceded by a 12-byte virtio_net_hdr_v1 (IFF_VNET_HDR, TUNSETVNETHDRSZ),
// so checksum and segmentation offloads pass between the guest and the
// host's network stack unchanged (Documentation/networking/tuntap.rst).
#pragma once

#include <unistd.h>

#include <string>

#include "base/file_descriptor.h"
#include "base/result.h"

namespace ember::virtio {

class Tap final {
 public:
  static constexpr size_t kHeaderSize = 12;  // struct virtio_net_hdr_v1 (virtio 1.2 §5.1.6)
  // Offload flags for set_offload (linux/if_tun.h TUN_F_*).
  static constexpr unsigned kChecksum = 0x01, kTso4 = 0x02, kTso6 = 0x04, kEcn = 0x08;

  // Attaches to the TAP interface `name`; the kernel creates it (for this
  // process's lifetime) if it does not exist and ember may (CAP_NET_ADMIN).
  // The descriptor is non-blocking. Errors are one sentence naming the
  // interface and the reason.
  static Result<Tap> open(const std::string& name);

  // How a packet is read: read(2), or in unit tests a stand-in that reports
  // what tun does and a socket cannot (a length beyond the buffer).
  using Reader = ssize_t (*)(int fd, void* buffer, size_t length);

  // A descriptor that behaves like a TAP device's (one packet per read and
  // write, a SOCK_SEQPACKET socket in unit tests), under `name`.
  static Tap adopt(FileDescriptor fd, std::string name, Reader reader = ::read) {
    return Tap{std::move(fd), std::move(name), reader};
  }

  // Which offloaded packets the host may send the guest (TUNSETOFFLOAD):
  // only those the driver negotiated.
  Status set_offload(unsigned flags) const;

  int                fd() const { return fd_.get(); }
  // One packet into `buffer`. Like tun's read, the length returned may
  // exceed `length` when the packet did not fit (only `length` bytes were
  // copied); the caller checks.
  ssize_t            read(void* buffer, size_t length) const { return reader_(fd_.get(), buffer, length); }
  const std::string& name() const { return name_; }

 private:
  Tap(FileDescriptor fd, std::string name, Reader reader = ::read)
      : fd_{std::move(fd)}, name_{std::move(name)}, reader_{reader} {}

  FileDescriptor fd_;
  std::string    name_;
  Reader         reader_;
};

}  // namespace ember::virtio
