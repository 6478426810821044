// One vsock connection's flow control (virtio 1.2 §5.10.6.3) without a
// device: the guest's credit, ember's stamped into packets, and bytes a
// host socket cannot take waiting within ember's buffer.
#include "virtio/vsock_connection.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace ember::virtio {
namespace {

TEST(VsockConnection, TheGuestsCreditIsItsBufferLessWhatIsInFlight) {
  VsockConnection connection;
  connection.take_guest_credit(VsockHeader{3, 2, 1, 2, 0, kVsockTypeStream, 5, 0, 1000, 0});
  EXPECT_EQ(connection.credit_for_guest(), 1000u);
  connection.tx_cnt = 600;
  EXPECT_EQ(connection.credit_for_guest(), 400u);
  connection.take_guest_credit(VsockHeader{3, 2, 1, 2, 0, kVsockTypeStream, 5, 0, 1000, 500});  // it forwarded 500
  EXPECT_EQ(connection.credit_for_guest(), 900u);
  connection.tx_cnt = 0xfffffff0u;  // the counters wrap (§5.10.6.3: free-running)
  connection.take_guest_credit(VsockHeader{3, 2, 1, 2, 0, kVsockTypeStream, 5, 0, 1000, 0xffffff00u});
  EXPECT_EQ(connection.credit_for_guest(), 1000u - 0xf0u);
  connection.take_guest_credit(VsockHeader{3, 2, 1, 2, 0, kVsockTypeStream, 5, 0, 100, 0xffffff00u});
  EXPECT_EQ(connection.credit_for_guest(), 0u) << "more in flight than the buffer it now has";
}

TEST(VsockConnection, BytesTheHostCannotTakeWaitWithinEmbersBufferAndCountOnceSent) {
  int ends[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ends), 0);
  VsockConnection connection;
  connection.socket = FileDescriptor{ends[0]};
  const FileDescriptor host{ends[1]};
  connection.buf_alloc = 4096;
  connection.established = true;
  connection.greet_host(77);
  char line[8] = {};
  ASSERT_EQ(::read(host.get(), line, sizeof line), 6);
  EXPECT_EQ(std::string(line, 6), "OK 77\n");
  EXPECT_EQ(connection.fwd_cnt, 0u) << "ember's line is not the guest's bytes";

  VsockHeader stamped{};
  connection.stamp(stamped);
  EXPECT_EQ(stamped.buf_alloc, 4096u);
  EXPECT_FALSE(connection.credit_update_due());
  connection.fwd_cnt = 2048;
  EXPECT_TRUE(connection.credit_update_due()) << "half the buffer freed since the guest last heard";
  connection.stamp(stamped);
  EXPECT_EQ(stamped.fwd_cnt, 2048u);
  EXPECT_FALSE(connection.credit_update_due());
  EXPECT_EQ(connection.wanted_events(), 0u) << "no guest credit, nothing waiting";
}

}  // namespace
}  // namespace ember::virtio
