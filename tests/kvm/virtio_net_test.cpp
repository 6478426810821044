// virtio-net over a TAP device, driven by a guest program with a minimal
// driver (kvm tier). The test moves its thread into a new network
// namespace, so the TAP device, its address and everything ember and the
// guest send stay out of the host's own network.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <string>

#include "support/network_namespace.h"
#include "support/run_process.h"

namespace ember::test {
namespace {

class VirtioNet : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kvm_available()) << kNoKvm;
    // Namespaces belong to threads: this one and the ones it starts
    // (ember, ip) are in the new namespace; the rest of the host is not.
    if (const auto why = enter_network_namespace(); !why.empty()) GTEST_SKIP() << why;
  }
};

TEST_F(VirtioNet, GuestAndHostExchangeUdpDatagramsOverTap) {
  ASSERT_EQ(make_tap(), "");
  const int socket = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(socket, 0);
  sockaddr_in host{};
  host.sin_family = AF_INET;
  host.sin_port = htons(7000);
  host.sin_addr.s_addr = inet_addr(kHostAddress);
  ASSERT_EQ(::bind(socket, reinterpret_cast<sockaddr*>(&host), sizeof host), 0) << std::strerror(errno);

  auto ember = std::async(std::launch::async, [] {
    return run_ember({"run", "--kernel", guest_program("virtio_net"), "--net", std::string("tap=") + kTapName, "--timeout", "60"});
  });
  pollfd ready{socket, POLLIN, 0};
  ASSERT_EQ(::poll(&ready, 1, 60'000), 1) << "no datagram from the guest";
  char datagram[128];
  sockaddr_in guest{};
  socklen_t guest_size = sizeof guest;
  const ssize_t got = ::recvfrom(socket, datagram, sizeof datagram, 0, reinterpret_cast<sockaddr*>(&guest), &guest_size);
  ASSERT_GT(got, 0);
  EXPECT_EQ(std::string(datagram, static_cast<size_t>(got)), "ping from the guest");
  EXPECT_EQ(guest.sin_addr.s_addr, inet_addr(kGuestAddress));
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
