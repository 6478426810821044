// Owns one file descriptor and closes it exactly once.
#pragma once

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>

#include <utility>

namespace ember {

class FileDescriptor final {
 public:
  FileDescriptor() = default;
  explicit FileDescriptor(int fd) : fd_{fd} {}
  FileDescriptor(FileDescriptor&& other) noexcept : fd_{std::exchange(other.fd_, -1)} {}
  FileDescriptor& operator=(FileDescriptor&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  ~FileDescriptor() { reset(); }

  int  get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// Clears O_NONBLOCK on `fd`: for a file opened non-blocking only so the open
// could not wait (a FIFO), once it is known to be what was wanted.
inline bool set_blocking(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0;
}

// Closes every descriptor of the process but the `count` in `keep` (which
// it sorts). Async-signal-safe, no allocation: for a child between fork and
// exec, or a forked helper that never execs.
// Where close_range is missing (before Linux 5.9), every descriptor up to
// `limit` (RLIMIT_NOFILE's hard limit, read before the fork) is closed.
inline void close_descriptors_except(int* keep, size_t count, unsigned limit = 1u << 20) {
  for (size_t i = 1; i < count; ++i) {  // insertion sort, ascending
    for (size_t j = i; j > 0 && keep[j - 1] > keep[j]; --j) {
      const int swap = keep[j];
      keep[j] = keep[j - 1];
      keep[j - 1] = swap;
    }
  }
  unsigned next = 0;  // the lowest descriptor not yet kept or closed
  for (size_t i = 0; i <= count; ++i) {
    if (i < count && keep[i] < 0) continue;
    const unsigned end = i < count ? static_cast<unsigned>(keep[i]) : ~0u;  // exclusive, but for the last range
    if (end > next) {
      const unsigned last = i < count ? end - 1 : ~0u;
      if (::syscall(SYS_close_range, next, last, 0) != 0) {
        for (unsigned fd = next; fd <= last && fd < limit; ++fd) ::close(static_cast<int>(fd));
      }
    }
    if (i < count) next = end + 1;
  }
}

}  // namespace ember
