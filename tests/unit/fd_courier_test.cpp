// The descriptor courier (security/fd_courier.h): the process that sends
// file descriptors for ember once ember's own filter forbids sendmsg. It
// sends what it may lend, refuses the rest, holds nothing else, runs under
// its own filter, never blocks, and leaves with ember.
#include "security/fd_courier.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace ember {
namespace {

struct SocketPair {
  SocketPair() {
    int fds[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), 0);
    ours = FileDescriptor{fds[0]};
    theirs = FileDescriptor{fds[1]};
  }
  FileDescriptor ours, theirs;
};

// Receives one message and the descriptors that came with it.
std::string receive(int socket, std::vector<FileDescriptor>& fds) {
  char text[256];
  iovec data{text, sizeof text};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
  msghdr header{};
  header.msg_iov = &data;
  header.msg_iovlen = 1;
  header.msg_control = control;
  header.msg_controllen = sizeof control;
  const ssize_t got = ::recvmsg(socket, &header, MSG_CMSG_CLOEXEC);
  if (got < 0) return "recvmsg failed";
  for (cmsghdr* part = CMSG_FIRSTHDR(&header); part != nullptr; part = CMSG_NXTHDR(&header, part)) {
    if (part->cmsg_level != SOL_SOCKET || part->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (part->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int fd;
      std::memcpy(&fd, CMSG_DATA(part) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  return std::string(text, static_cast<size_t>(got));
}

// Waits for the courier to exit; its status, or nothing after 5 s.
std::optional<int> reap(pid_t pid) {
  for (int i = 0; i < 500; ++i) {
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) return status;
    ::usleep(10'000);
  }
  return std::nullopt;
}

std::chrono::steady_clock::time_point soon() { return std::chrono::steady_clock::now() + std::chrono::seconds(5); }

std::span<const uint8_t> bytes_of(const std::string& text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

TEST(FdCourier, SendsTheBytesWithADescriptorThatStillWorks) {
  SocketPair socket;
  FileDescriptor eventfd{::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)};
  const int lendable[] = {socket.ours.get(), eventfd.get()};
  auto courier = FdCourier::start(lendable);
  ASSERT_TRUE(courier) << courier.error().message;
  const int fds[] = {eventfd.get()};
  auto sent = courier->send(socket.ours.get(), bytes_of("SET_VRING_CALL"), fds, soon());
  ASSERT_TRUE(sent) << std::strerror(sent.error().error_number);
  EXPECT_EQ(*sent, 14u);

  std::vector<FileDescriptor> received;
  EXPECT_EQ(receive(socket.theirs.get(), received), "SET_VRING_CALL");
  ASSERT_EQ(received.size(), 1u);
  // The same eventfd: signalled through the copy, read through ours.
  const uint64_t one = 1;
  ASSERT_EQ(::write(received[0].get(), &one, sizeof one), 8);
  uint64_t count = 0;
  EXPECT_EQ(::read(eventfd.get(), &count, sizeof count), 8);
  EXPECT_EQ(count, 1u);
  const pid_t pid = courier->pid();
  std::optional<FdCourier> held{std::move(*courier)};
  held.reset();  // ember's end closes: the courier leaves
  const auto status = reap(pid);
  ASSERT_TRUE(status.has_value()) << "the courier outlived ember's end of its socketpair";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
}

TEST(FdCourier, RefusesWhatItMayNotLend) {
  SocketPair lendable_socket, other_socket;
  FileDescriptor eventfd{::eventfd(0, EFD_CLOEXEC)}, secret{::eventfd(0, EFD_CLOEXEC)};
  const int lendable[] = {lendable_socket.ours.get(), eventfd.get()};
  auto courier = FdCourier::start(lendable);
  ASSERT_TRUE(courier) << courier.error().message;
  const int not_lendable[] = {secret.get()};
  auto refused = courier->send(lendable_socket.ours.get(), bytes_of("x"), not_lendable, soon());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error_number, EPERM);
  const int fine[] = {eventfd.get()};
  refused = courier->send(other_socket.ours.get(), bytes_of("x"), fine, soon());
  ASSERT_FALSE(refused) << "sent on a socket it was not given";
  EXPECT_EQ(refused.error().error_number, EPERM);
  std::vector<int> too_many(FdCourier::kMaxFds + 1, eventfd.get());
  refused = courier->send(lendable_socket.ours.get(), bytes_of("x"), too_many, soon());
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().error_number, EPERM);
  // Still serving after the refusals.
  EXPECT_TRUE(courier->send(lendable_socket.ours.get(), bytes_of("ok"), fine, soon()));
}

TEST(FdCourier, HoldsOnlyTheLendableDescriptorsAndRunsUnderItsOwnFilter) {
  SocketPair socket;
  FileDescriptor eventfd{::eventfd(0, EFD_CLOEXEC)}, unrelated{::eventfd(0, EFD_CLOEXEC)};
  const int lendable[] = {socket.ours.get(), eventfd.get()};
  auto courier = FdCourier::start(lendable);
  ASSERT_TRUE(courier) << courier.error().message;
  ASSERT_TRUE(courier->send(socket.ours.get(), bytes_of("ready"), {}, soon()));  // it has set itself up by now
  const std::string proc = "/proc/" + std::to_string(courier->pid());
  std::vector<int> open;
  for (const auto& entry : std::filesystem::directory_iterator(proc + "/fd")) open.push_back(std::stoi(entry.path().filename()));
  std::sort(open.begin(), open.end());
  // The two lendable ones and its end of the socketpair; no stdio, no
  // `unrelated`.
  ASSERT_EQ(open.size(), 3u);
  EXPECT_TRUE(std::find(open.begin(), open.end(), socket.ours.get()) != open.end());
  EXPECT_TRUE(std::find(open.begin(), open.end(), eventfd.get()) != open.end());
  EXPECT_TRUE(std::find(open.begin(), open.end(), unrelated.get()) == open.end());
  EXPECT_TRUE(std::find(open.begin(), open.end(), STDERR_FILENO) == open.end());
  std::ifstream status{proc + "/status"};
  std::string line, seccomp;
  while (std::getline(status, line)) {
    if (line.rfind("Seccomp:", 0) == 0) seccomp = line;
  }
  EXPECT_EQ(seccomp, "Seccomp:\t2") << "2 is filter mode";
}

TEST(FdCourier, AFullSocketAnswersEagainInsteadOfBlocking) {
  SocketPair socket;
  const int lendable[] = {socket.ours.get()};
  auto courier = FdCourier::start(lendable);
  ASSERT_TRUE(courier) << courier.error().message;
  const std::string chunk(FdCourier::kMaxMessage, 'x');
  int sends = 0;
  for (; sends < 100'000; ++sends) {
    auto sent = courier->send(socket.ours.get(), bytes_of(chunk), {}, soon());
    if (!sent) {
      EXPECT_EQ(sent.error().error_number, EAGAIN);
      break;
    }
  }
  EXPECT_LT(sends, 100'000) << "the peer never read, yet every send went through";
}

TEST(FdCourier, AGoneCourierIsReportedNotWaitedFor) {
  SocketPair socket;
  const int lendable[] = {socket.ours.get()};
  auto courier = FdCourier::start(lendable);
  ASSERT_TRUE(courier) << courier.error().message;
  ASSERT_EQ(::kill(courier->pid(), SIGKILL), 0);
  ASSERT_TRUE(reap(courier->pid()).has_value());
  const auto old = std::signal(SIGPIPE, SIG_IGN);  // as in ember (cli/main.cpp)
  auto sent = courier->send(socket.ours.get(), bytes_of("x"), {}, soon());
  std::signal(SIGPIPE, old);
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().error_number, ECHILD);
}

TEST(FdCourier, AStoppedCourierIsGivenUpAtTheDeadlineAndForGood) {
  SocketPair socket;
  const int lendable[] = {socket.ours.get()};
  auto courier = FdCourier::start(lendable);
  ASSERT_TRUE(courier) << courier.error().message;
  ASSERT_EQ(::kill(courier->pid(), SIGSTOP), 0);
  const auto started = std::chrono::steady_clock::now();
  auto sent = courier->send(socket.ours.get(), bytes_of("x"), {}, started + std::chrono::milliseconds(200));
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().error_number, ECHILD);
  EXPECT_LT(waited, std::chrono::seconds(2));
  ASSERT_EQ(::kill(courier->pid(), SIGCONT), 0);
  // Its answer to the first request is still on its way: the socketpair is
  // out of step, so the courier is not used again.
  sent = courier->send(socket.ours.get(), bytes_of("y"), {}, soon());
  ASSERT_FALSE(sent);
  EXPECT_EQ(sent.error().error_number, ECHILD);
  ::kill(courier->pid(), SIGKILL);
  (void)reap(courier->pid());
}

}  // namespace
}  // namespace ember
