#include "security/fd_courier.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/wait_ready.h"

namespace ember {
namespace {

// One request on the socketpair, in one SOCK_SEQPACKET packet: this header,
// then `length` bytes to send.
struct Request {
  int32_t  socket;
  uint32_t fd_count;
  int32_t  fds[FdCourier::kMaxFds];
  uint32_t length;
};
// The answer: the bytes sent, or -errno.
using Answer = int64_t;

// The courier's whole filter: what its loop below calls. Anything else
// kills it, and ember sees ECHILD on its next request.
constexpr int kCourierCalls[] = {__NR_read, __NR_write, __NR_sendmsg, __NR_exit, __NR_exit_group, __NR_rt_sigreturn,
                                 __NR_restart_syscall};
constexpr size_t kCallCount = sizeof kCourierCalls / sizeof kCourierCalls[0];

bool install_courier_filter() {
  sock_filter program[4 + kCallCount + 2];
  size_t at = 0;
  program[at++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch));
  program[at++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
  program[at++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  program[at++] = BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr));
  for (size_t i = 0; i < kCallCount; ++i) {
    // Matched: jump over the remaining comparisons and the kill, to allow.
    program[at++] = BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<uint32_t>(kCourierCalls[i]),
                             static_cast<uint8_t>(kCallCount - i), 0);
  }
  program[at++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
  program[at++] = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  const sock_fprog filter{static_cast<unsigned short>(at), program};
  return ::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 && ::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &filter) == 0;
}

bool contains(const int* fds, size_t count, int fd) {
  for (size_t i = 0; i < count; ++i) {
    if (fds[i] == fd) return true;
  }
  return false;
}

// The child, after fork: async-signal-safe from here on, no allocation.
[[noreturn]] void run_courier(int control, const int* lendable, size_t lendable_count) {
  int kept[FdCourier::kMaxLendable + 1];
  size_t kept_count = 0;
  for (size_t i = 0; i < lendable_count; ++i) kept[kept_count++] = lendable[i];
  kept[kept_count++] = control;
  close_descriptors_except(kept, kept_count);
  ::prctl(PR_SET_NAME, "ember-courier");
  if (!install_courier_filter()) ::_exit(1);
  const Answer ready = 0;  // start() waits for this: the filter is on
  if (::write(control, &ready, sizeof ready) != sizeof ready) ::_exit(1);

  alignas(Request) uint8_t packet[sizeof(Request) + FdCourier::kMaxMessage];
  for (;;) {
    const ssize_t got = ::read(control, packet, sizeof packet);
    if (got <= 0) {
      if (got < 0 && errno == EINTR) continue;
      ::_exit(0);  // ember closed its end, or is gone
    }
    Request request;
    std::memcpy(&request, packet, sizeof request);
    Answer answer = -EPERM;
    bool lendable_only = static_cast<size_t>(got) >= sizeof request && request.fd_count <= FdCourier::kMaxFds &&
                         request.length == static_cast<size_t>(got) - sizeof request && request.socket != control &&
                         contains(lendable, lendable_count, request.socket);
    for (uint32_t i = 0; lendable_only && i < request.fd_count; ++i) {
      lendable_only = request.fds[i] != control && contains(lendable, lendable_count, request.fds[i]);
    }
    if (lendable_only) {
      iovec data{packet + sizeof request, request.length};
      alignas(cmsghdr) uint8_t control_bytes[CMSG_SPACE(sizeof(int) * FdCourier::kMaxFds)] = {};
      msghdr header{};
      header.msg_iov = &data;
      header.msg_iovlen = 1;
      if (request.fd_count > 0) {
        header.msg_control = control_bytes;
        header.msg_controllen = CMSG_SPACE(sizeof(int) * request.fd_count);
        cmsghdr* rights = CMSG_FIRSTHDR(&header);
        rights->cmsg_level = SOL_SOCKET;
        rights->cmsg_type = SCM_RIGHTS;
        rights->cmsg_len = CMSG_LEN(sizeof(int) * request.fd_count);
        std::memcpy(CMSG_DATA(rights), request.fds, sizeof(int) * request.fd_count);
      }
      ssize_t sent;
      do {
        sent = ::sendmsg(request.socket, &header, MSG_NOSIGNAL | MSG_DONTWAIT);
      } while (sent < 0 && errno == EINTR);
      answer = sent < 0 ? -errno : sent;
    }
    if (::write(control, &answer, sizeof answer) != sizeof answer) ::_exit(0);
  }
}

}  // namespace

Result<FdCourier> FdCourier::start(std::span<const int> lendable) {
  if (lendable.size() > kMaxLendable) return Error{"too many descriptors for the descriptor courier"};
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    return Error{std::string("cannot make the descriptor courier's socketpair: ") + std::strerror(errno)};
  }
  FileDescriptor ours{pair[0]}, theirs{pair[1]};
  // Copied before the fork: the child may not allocate.
  int copy[kMaxLendable];
  for (size_t i = 0; i < lendable.size(); ++i) copy[i] = lendable[i];
  const pid_t pid = ::fork();
  if (pid < 0) return Error{std::string("cannot start the descriptor courier: ") + std::strerror(errno)};
  if (pid == 0) run_courier(theirs.get(), copy, lendable.size());
  theirs.reset();
  // The courier says it is under its filter; end of file means it is not.
  Answer ready = -1;
  ssize_t got;
  do {
    got = ::read(ours.get(), &ready, sizeof ready);
  } while (got < 0 && errno == EINTR);
  if (got != sizeof ready || ready != 0) return Error{"the descriptor courier could not put itself under its seccomp filter"};
  return FdCourier{std::move(ours), pid};
}

Result<size_t, FdCourier::SendFailure> FdCourier::send(int socket, std::span<const uint8_t> bytes, std::span<const int> fds,
                                                       std::chrono::steady_clock::time_point deadline) {
  if (bytes.size() > kMaxMessage || fds.size() > kMaxFds) return SendFailure{EPERM};
  Request request{};
  request.socket = socket;
  request.fd_count = static_cast<uint32_t>(fds.size());
  for (size_t i = 0; i < fds.size(); ++i) request.fds[i] = fds[i];
  request.length = static_cast<uint32_t>(bytes.size());
  uint8_t packet[sizeof(Request) + kMaxMessage];
  std::memcpy(packet, &request, sizeof request);
  if (!bytes.empty()) std::memcpy(packet + sizeof request, bytes.data(), bytes.size());
  std::lock_guard lock{mutex_};
  if (broken_) return SendFailure{ECHILD};
  const size_t size = sizeof request + bytes.size();
  ssize_t written = -1;
  while (wait_ready(control_.get(), POLLOUT, deadline) == Readiness::kReady) {
    written = ::write(control_.get(), packet, size);
    if (written >= 0 || (errno != EINTR && errno != EAGAIN)) break;
  }
  if (written != static_cast<ssize_t>(size)) {
    broken_ = true;
    return SendFailure{ECHILD};
  }
  Answer answer = 0;
  ssize_t got = -1;
  while (wait_ready(control_.get(), POLLIN, deadline) == Readiness::kReady) {
    got = ::read(control_.get(), &answer, sizeof answer);
    if (got >= 0 || (errno != EINTR && errno != EAGAIN)) break;
  }
  if (got != sizeof answer) {
    broken_ = true;  // gone, or stopped: its late answer would be taken for the next request's
    return SendFailure{ECHILD};
  }
  if (answer < 0) return SendFailure{static_cast<int>(-answer)};
  return static_cast<size_t>(answer);
}

}  // namespace ember
