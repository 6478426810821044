#include "virtio/tap.h"

#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

namespace ember::virtio {

Result<Tap> Tap::open(const std::string& name) {
  const std::string which = "tap '" + name + "'";
  if (name.empty() || name.size() >= IFNAMSIZ) return Error{which + ": an interface name has 1 to 15 characters"};
  FileDescriptor fd{::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)};
  if (!fd.valid()) {
    const int error = errno;
    if (error == ENOENT) return Error{which + ": /dev/net/tun does not exist (the tun module is not loaded?)"};
    return Error{which + ": cannot open /dev/net/tun: " + std::strerror(error)};
  }
  ifreq request{};
  std::memcpy(request.ifr_name, name.data(), name.size());
  request.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &request) != 0) {
    const int error = errno;
    if (error == EPERM) {
      return Error{which + ": not permitted; creating an interface needs CAP_NET_ADMIN, and an existing one must belong to "
                           "ember's user (ip tuntap add NAME mode tap user USER)"};
    }
    if (error == EBUSY) return Error{which + " is in use by another process, or is not a TAP interface"};
    if (error == EINVAL) return Error{which + " exists and is not a TAP interface with virtio-net headers"};
    return Error{which + ": cannot attach: " + std::strerror(error)};
  }
  int header_size = static_cast<int>(kHeaderSize);
  if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &header_size) != 0) {
    return Error{which + ": cannot set the virtio-net header size: " + std::strerror(errno)};
  }
  return Tap{std::move(fd), name};
}

Status Tap::set_offload(unsigned flags) const {
  if (::ioctl(fd_.get(), TUNSETOFFLOAD, static_cast<unsigned long>(flags)) != 0) {
    return Error{"tap '" + name_ + "': cannot set offloads: " + std::strerror(errno)};
  }
  return {};
}

}  // namespace ember::virtio
