#include "support/network_namespace.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <vector>

#include "support/run_process.h"

namespace ember::test {

std::string enter_network_namespace() {
  if (::geteuid() != 0) return "a network namespace and a TAP device need root";
  if (::unshare(CLONE_NEWNET) != 0) return std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
  return {};
}

std::string make_tap() {
  const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return std::string("/dev/net/tun: ") + std::strerror(errno);
  ifreq request{};
  std::strncpy(request.ifr_name, kTapName, IFNAMSIZ - 1);
  request.ifr_flags = IFF_TAP | IFF_NO_PI;
  const bool made = ::ioctl(fd, TUNSETIFF, &request) == 0 && ::ioctl(fd, TUNSETPERSIST, 1) == 0;
  const int error = errno;
  ::close(fd);
  if (!made) return std::string("TUNSETIFF/TUNSETPERSIST: ") + std::strerror(error);
  for (const auto& command : {std::vector<std::string>{"addr", "add", std::string(kHostAddress) + "/24", "dev", kTapName},
                              {"link", "set", kTapName, "up"},
                              {"neigh", "add", kGuestAddress, "lladdr", kGuestMac, "dev", kTapName}}) {
    std::vector<std::string> argv{"/usr/sbin/ip"};
    argv.insert(argv.end(), command.begin(), command.end());
    const auto result = run_process(argv);
    if (result.exit_code != 0) return "ip " + command[0] + ": " + result.err;
  }
  return {};
}

namespace {

uint16_t checksum(const uint8_t* data, size_t length) {
  uint32_t sum = 0;
  for (size_t i = 0; i + 1 < length; i += 2) sum += static_cast<uint32_t>(data[i] | data[i + 1] << 8);
  if (length % 2 != 0) sum += data[length - 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

bool ping(const std::string& address, int seconds) {
  const int fd = ::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMP);
  if (fd < 0) return false;
  sockaddr_in target{};
  target.sin_family = AF_INET;
  target.sin_addr.s_addr = inet_addr(address.c_str());
  bool answered = false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  for (uint16_t sequence = 1; !answered && std::chrono::steady_clock::now() < until; ++sequence) {
    uint8_t request[16]{};
    request[0] = ICMP_ECHO;
    request[6] = static_cast<uint8_t>(sequence >> 8);
    request[7] = static_cast<uint8_t>(sequence);
    std::memcpy(request + 8, "ember-ok", 8);
    const uint16_t sum = checksum(request, sizeof request);
    std::memcpy(request + 2, &sum, 2);
    (void)::sendto(fd, request, sizeof request, 0, reinterpret_cast<sockaddr*>(&target), sizeof target);
    pollfd ready{fd, POLLIN, 0};
    while (!answered && ::poll(&ready, 1, 1000) == 1) {
      uint8_t reply[256];
      const ssize_t got = ::recv(fd, reply, sizeof reply, 0);  // an IP header, then ICMP
      if (got < 20) break;
      const size_t header = (reply[0] & 0xf) * 4u;
      answered = static_cast<size_t>(got) >= header + 16 && reply[header] == ICMP_ECHOREPLY &&
                 std::memcmp(reply + 12, &target.sin_addr.s_addr, 4) == 0 && std::memcmp(reply + header + 8, "ember-ok", 8) == 0;
    }
  }
  ::close(fd);
  return answered;
}

}  // namespace ember::test
