// virtio-net over a TAP device, driven by a guest program with a minimal
// driver (kvm tier). The test moves its thread into a new network
// namespace, so the TAP device, its address and everything ember and the
// guest send stay out of the host's own network.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <string>

#include "support/run_process.h"

namespace ember::test {
namespace {

constexpr const char* kTap = "embertap0";

class VirtioNet : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kvm_available()) GTEST_SKIP() << "/dev/kvm is not available";
    if (::geteuid() != 0) GTEST_SKIP() << "creating a network namespace and a TAP device needs root";
    // Namespaces belong to threads: this one and the ones it starts
    // (ember, ip) are in the new namespace; the rest of the host is not.
    ASSERT_EQ(::unshare(CLONE_NEWNET), 0) << std::strerror(errno);
  }

  // A persistent TAP device with the host's address 10.0.2.1/24, up, and
  // the guest's MAC address for 10.0.2.15 known (the guest program answers
  // no ARP).
  static void make_tap() {
    const int fd = ::open("/dev/net/tun", O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ifreq request{};
    std::strncpy(request.ifr_name, kTap, IFNAMSIZ - 1);
    request.ifr_flags = IFF_TAP | IFF_NO_PI;
    ASSERT_EQ(::ioctl(fd, TUNSETIFF, &request), 0) << std::strerror(errno);
    ASSERT_EQ(::ioctl(fd, TUNSETPERSIST, 1), 0) << std::strerror(errno);
    ::close(fd);
    for (const auto& command : {std::vector<std::string>{"addr", "add", "10.0.2.1/24", "dev", kTap},
                                {"link", "set", kTap, "up"},
                                {"neigh", "add", "10.0.2.15", "lladdr", "52:54:00:12:34:56", "dev", kTap}}) {
      std::vector<std::string> argv{"/usr/sbin/ip"};
      argv.insert(argv.end(), command.begin(), command.end());
      const auto result = run_process(argv);
      ASSERT_EQ(result.exit_code, 0) << "ip " << command[0] << ": " << result.err;
    }
  }
};

TEST_F(VirtioNet, GuestAndHostExchangeUdpDatagramsOverTap) {
  make_tap();
  const int socket = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(socket, 0);
  sockaddr_in host{};
  host.sin_family = AF_INET;
  host.sin_port = htons(7000);
  host.sin_addr.s_addr = inet_addr("10.0.2.1");
  ASSERT_EQ(::bind(socket, reinterpret_cast<sockaddr*>(&host), sizeof host), 0) << std::strerror(errno);

  auto ember = std::async(std::launch::async, [] {
    return run_ember({"run", "--kernel", guest_program("virtio_net"), "--net", std::string("tap=") + kTap, "--timeout", "60"});
  });
  pollfd ready{socket, POLLIN, 0};
  ASSERT_EQ(::poll(&ready, 1, 60'000), 1) << "no datagram from the guest";
  char datagram[128];
  sockaddr_in guest{};
  socklen_t guest_size = sizeof guest;
  const ssize_t got = ::recvfrom(socket, datagram, sizeof datagram, 0, reinterpret_cast<sockaddr*>(&guest), &guest_size);
  ASSERT_GT(got, 0);
  EXPECT_EQ(std::string(datagram, static_cast<size_t>(got)), "ping from the guest");
  EXPECT_EQ(guest.sin_addr.s_addr, inet_addr("10.0.2.15"));
  EXPECT_EQ(ntohs(guest.sin_port), 5000);
  const std::string reply = "pong from the host";
  ASSERT_EQ(::sendto(socket, reply.data(), reply.size(), 0, reinterpret_cast<sockaddr*>(&guest), guest_size),
            static_cast<ssize_t>(reply.size()));

  const auto result = ember.get();
  ::close(socket);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("mac 52:54:00:12:34:56"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("guest got: pong from the host"), std::string::npos) << result.out;
}

TEST_F(VirtioNet, AnInterfaceThatIsNotATapIsRefusedBeforeTheGuestStarts) {
  // The new namespace has only "lo".
  const auto result = run_ember({"run", "--kernel", guest_program("hello"), "--net", "tap=lo"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("tap 'lo' exists and is not a TAP interface"), std::string::npos) << result.err;
  EXPECT_EQ(result.out, "");
}

}  // namespace
}  // namespace ember::test
