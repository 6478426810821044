// A TAP network interface opened for virtio-net: Ethernet frames, each
// preceded by a 12-byte virtio_net_hdr_v1 (IFF_VNET_HDR, TUNSETVNETHDRSZ),
// so checksum and segmentation offloads pass between the guest and the
// host's network stack unchanged (Documentation/networking/tuntap.rst).
#pragma once

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

  // A descriptor that behaves like a TAP device's (one packet per read and
  // write, a SOCK_SEQPACKET socket in unit tests), under `name`.
  static Tap adopt(FileDescriptor fd, std::string name) { return Tap{std::move(fd), std::move(name)}; }

  // Which offloaded packets the host may send the guest (TUNSETOFFLOAD):
  // only those the driver negotiated.
  Status set_offload(unsigned flags) const;

  int                fd() const { return fd_.get(); }
  const std::string& name() const { return name_; }

 private:
  Tap(FileDescriptor fd, std::string name) : fd_{std::move(fd)}, name_{std::move(name)} {}

  FileDescriptor fd_;
  std::string    name_;
};

}  // namespace ember::virtio
