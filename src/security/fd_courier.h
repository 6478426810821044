// A process that sends file descriptors for ember once ember's own seccomp
// filter is on. vhost-user hands a backend eventfds (SCM_RIGHTS, on
// sendmsg) every time the guest starts a device, and a backend such as QEMU's
// C virtiofsd closes them again when the device stops, so they cannot all be
// sent once before the filters. Rather than widen the process filter with
// sendmsg, ember forks this courier before the filters go on: it keeps only
// the descriptors it may lend (the backend sockets and the rings' eventfds),
// closes every other one, and puts itself under a filter of its own that
// allows read, write and sendmsg (and exiting and signal returns) and nothing
// else. ember asks it over a SOCK_SEQPACKET socketpair with read, write and
// poll, which ember's filter already allows; callers ignore SIGPIPE, as
// ember does (cli/main.cpp), so a dead courier is an error, not a signal.
//
// The child runs only async-signal-safe code (the fork happens while other
// threads of ember run): plain system calls on fixed buffers. It exits when
// ember's end of the socketpair closes, ember's death included.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <span>

#include "base/file_descriptor.h"
#include "base/result.h"

namespace ember {

class FdCourier {
 public:
  static constexpr size_t kMaxMessage = 512;  // vhost-user's largest request ember sends is 276 bytes
  static constexpr size_t kMaxFds = 8;
  static constexpr size_t kMaxLendable = 256;

  // Forks the courier and waits until it is under its filter. It may send
  // `lendable` descriptors, on `lendable` sockets, and holds no other.
  static Result<FdCourier> start(std::span<const int> lendable);
  FdCourier(FdCourier&& other) noexcept : control_{std::move(other.control_)}, pid_{other.pid_}, broken_{other.broken_} {
    other.pid_ = -1;
  }
  FdCourier& operator=(FdCourier&&) = delete;

  pid_t pid() const { return pid_; }
  // Why a send failed: a failed sendmsg's errno (EAGAIN: the socket is
  // full), ECHILD when the courier is gone or did not answer by the
  // deadline (it is then of no further use), EPERM for a descriptor or a
  // size it may not send.
  struct SendFailure {
    int error_number;
  };
  // Sends `bytes` on `socket` with `fds` attached (SCM_RIGHTS), without
  // blocking on the socket; the courier must answer by `deadline`. Returns
  // the bytes sent.
  Result<size_t, SendFailure> send(int socket, std::span<const uint8_t> bytes, std::span<const int> fds,
                                   std::chrono::steady_clock::time_point deadline);

 private:
  FdCourier(FileDescriptor control, pid_t pid) : control_{std::move(control)}, pid_{pid} {}

  std::mutex     mutex_;  // one request at a time on the socketpair; guards broken_
  FileDescriptor control_;
  pid_t          pid_ = -1;
  bool           broken_ = false;  // an answer is owed or lost: the socketpair is out of step
};

}  // namespace ember
