// virtio-vsock end to end: tests/guests/vsock_ping.c connects to a host
// port, which ember bridges to the Unix socket PATH_PORT this test listens
// on, then accepts a connection this test makes through PATH with
// "CONNECT 2048". Both directions run with ember's seccomp filter on, so the
// socket calls the bridge makes while the guest runs are inside it.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <future>
#include <string>

#include "base/file_descriptor.h"
#include "support/run_process.h"
#include "support/sockets.h"

namespace ember::test {
namespace {

TEST(VirtioVsock, GuestAndHostConnectBothWaysThroughUnixSockets) {
  ASSERT_TRUE(kvm_available()) << kNoKvm;
  const std::string path = ::testing::TempDir() + "ember-vsock-" + std::to_string(::getpid());
  const std::string port_path = path + "_5000";
  FileDescriptor listener{listen_unix(port_path, 1)};
  ASSERT_TRUE(listener.valid()) << port_path;

  auto ember = std::async(std::launch::async, [&] {
    return run_ember({"run", "--kernel", guest_program("vsock_ping"), "--vsock", "7," + std::string("socket=") + path, "--timeout",
                      "90"});
  });

  // 1. The guest connects to port 5000 and says ping.
  ASSERT_TRUE(readable(listener.get(), 60)) << "the guest never connected";
  FileDescriptor from_guest{::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC)};
  ASSERT_TRUE(from_guest.valid());
  EXPECT_EQ(read_up_to(from_guest.get(), 19), "ping from the guest");
  ASSERT_EQ(::write(from_guest.get(), "pong from the host", 18), 18);
  EXPECT_EQ(read_up_to(from_guest.get(), 1), "") << "the guest's shutdown closes the host side";

  // 2. This test connects to the guest's port 2048 through ember's socket.
  FileDescriptor to_guest{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  const auto connect_address = unix_address(path);
  ASSERT_EQ(::connect(to_guest.get(), reinterpret_cast<const sockaddr*>(&connect_address), sizeof connect_address), 0);
  ASSERT_EQ(::write(to_guest.get(), "CONNECT 2048\nhello guest", 24), 24);
  const std::string ok = read_up_to(to_guest.get(), 3);
  EXPECT_EQ(ok, "OK ");
  std::string rest;
  for (char c = 0; rest.size() < 16 && read(to_guest.get(), &c, 1) == 1 && c != '\n';) rest += c;
  EXPECT_FALSE(rest.empty()) << "OK is followed by ember's host port";
  EXPECT_EQ(read_up_to(to_guest.get(), 11), "hello guest") << "the guest echoes";

  const ProcessResult result = ember.get();
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("guest cid 7\n"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("guest got: pong from the host\n"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("echoed: hello guest\n"), std::string::npos) << result.out;
  ::unlink(port_path.c_str());
  ::unlink(path.c_str());
}

}  // namespace
}  // namespace ember::test
