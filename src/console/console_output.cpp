#include "console/console_output.h"

#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "base/log.h"

namespace ember {

struct FdConsoleOutput::Shared {
  int            fd;
  FileDescriptor owned;  // closed only when the writer thread is gone too

  std::mutex              mutex;
  std::condition_variable room;     // the writer freed space, or release()
  std::condition_variable data;     // bytes queued, or the end
  std::condition_variable drained;  // the buffer emptied, or the writer gave up
  std::vector<uint8_t>    ring = std::vector<uint8_t>(kBufferBytes);
  size_t                  head = 0, size = 0;
  bool                    released = false;  // the machine is stopping: drop, never wait
  bool                    ending = false;    // finish(): write out what is queued, then end
  bool                    writer_done = false;
  uint64_t                dropped_at_stop = 0;  // written by the guest after the machine began to stop
  uint64_t                failed_bytes = 0;     // lost to a failing console

  void writer_loop();
};

void FdConsoleOutput::Shared::writer_loop() {
  std::unique_lock lock{mutex};
  while (true) {
    data.wait(lock, [this] { return size != 0 || ending; });
    if (size == 0) break;
    // The contiguous run at the head: producers only append behind it, so
    // it can be written without the lock.
    const size_t run = std::min(size, ring.size() - head);
    const uint8_t* start = ring.data() + head;
    lock.unlock();
    ssize_t written = ::write(fd, start, run);
    if (written < 0 && errno == EAGAIN) {
      // A descriptor another process left non-blocking: wait for room here,
      // in this thread, never in a device's.
      pollfd waiting{fd, POLLOUT, 0};
      ::poll(&waiting, 1, 100);
      written = 0;
    }
    const bool failed = written < 0 && errno != EINTR;
    if (failed) {
      // The console failed (closed pipe, full disk): what is queued is
      // dropped and counted, the guest keeps running, and later output is
      // tried again, as a disk may get room back.
      EMBER_GUEST_WARNING("console output failed; dropping guest console bytes");
    }
    lock.lock();
    if (failed) {
      failed_bytes += size;
      size = 0;
      room.notify_all();
      drained.notify_all();
      continue;
    }
    if (written > 0) {
      head = (head + static_cast<size_t>(written)) % ring.size();
      size -= static_cast<size_t>(written);
      room.notify_all();
    }
    if (size == 0) drained.notify_all();
  }
  writer_done = true;
  drained.notify_all();
}

FdConsoleOutput::FdConsoleOutput(int fd) : shared_{std::make_shared<Shared>()} { shared_->fd = fd; }

void FdConsoleOutput::start() {
  std::thread{[shared = shared_] { shared->writer_loop(); }}.detach();
}

FdConsoleOutput::FdConsoleOutput(FileDescriptor owned) : FdConsoleOutput(owned.get()) {
  std::lock_guard lock{shared_->mutex};
  shared_->owned = std::move(owned);
}

FdConsoleOutput::~FdConsoleOutput() {
  // The writer thread is detached and owns `shared_` too: a reader that
  // never reads again leaves it blocked in write() without holding ember
  // up, and it can never touch freed memory.
  finish(std::chrono::milliseconds{0});
  std::lock_guard lock{shared_->mutex};
  shared_->data.notify_one();
}

void FdConsoleOutput::write(std::span<const uint8_t> bytes) {
  std::unique_lock lock{shared_->mutex};
  Shared& s = *shared_;
  while (!bytes.empty()) {
    s.room.wait(lock, [&s] { return s.size < s.ring.size() || s.released; });
    // Once the machine stops, a writer never waits: what fits is still
    // queued (a guest's last line as it is stopped reaches the console),
    // only what would have to wait for room is dropped.
    if (s.released && s.size == s.ring.size()) {
      s.dropped_at_stop += bytes.size();
      return;
    }
    const size_t tail = (s.head + s.size) % s.ring.size();
    const size_t run = std::min({bytes.size(), s.ring.size() - s.size, s.ring.size() - tail});
    std::copy_n(bytes.data(), run, s.ring.data() + tail);
    s.size += run;
    bytes = bytes.subspan(run);
    s.data.notify_one();
  }
}

void FdConsoleOutput::release() {
  std::lock_guard lock{shared_->mutex};
  shared_->released = true;
  shared_->room.notify_all();
}

ConsoleOutput::Unwritten FdConsoleOutput::finish(std::chrono::milliseconds limit) {
  std::unique_lock lock{shared_->mutex};
  Shared& s = *shared_;
  s.released = true;  // nothing more is accepted
  s.ending = true;
  s.room.notify_all();
  s.data.notify_one();
  // `limit` without progress, not in all: a slow reader (a pager, a slow
  // line) still gets everything, one that stopped reading holds ember up
  // for `limit` only.
  for (size_t before = s.size + 1; s.size != 0 && !s.writer_done && s.size < before;) {
    before = s.size;
    s.drained.wait_for(lock, limit, [&s, before] { return s.size < before || s.writer_done; });
  }
  const Unwritten unwritten{s.size, s.dropped_at_stop, s.failed_bytes};
  s.dropped_at_stop = s.failed_bytes = 0;
  return unwritten;
}

}  // namespace ember
