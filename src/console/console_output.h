// Where the guest's console bytes go: stdout, a file, or nowhere.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>

#include "base/file_descriptor.h"

namespace ember {

class ConsoleOutput {
 public:
  virtual ~ConsoleOutput() = default;
  // Device threads (a VCPU in the UART, the virtio-console worker): hands
  // bytes to the console. May wait for room, never for longer than until
  // release().
  virtual void write(std::span<const uint8_t> bytes) = 0;
  // Before the first write, once ember has dropped its privileges (a
  // thread started earlier would keep them): starts what writes.
  virtual void start() {}
  // The machine is stopping: writers never wait for room again. What fits
  // is queued; what would have had to wait is dropped (and counted).
  virtual void release() {}
  // What never reached the console, by cause.
  struct Unwritten {
    uint64_t unread = 0;     // queued when the reader stopped taking it
    uint64_t after_stop = 0; // written by the guest while the machine stopped, with no room left
    uint64_t failed = 0;     // lost to write errors (closed pipe, full disk)
    uint64_t total() const { return unread + after_stop + failed; }
  };
  // At exit, once no device writes any more: waits while what is queued
  // reaches the console, giving up after `limit` without progress.
  virtual Unwritten finish(std::chrono::milliseconds /*limit*/) { return {}; }
};

// Writes to a file descriptor from a thread of its own, through a bounded
// buffer. A slow or stalled reader fills the buffer; then the writing device
// waits for room, as a UART whose THR never empties would, so host memory
// stays bounded and, while the machine runs, nothing is lost. No device
// thread ever blocks in write() or poll(), under its device's lock or
// otherwise, so a stop always stops: release() frees every waiting writer,
// and finish() waits for the reader only while it makes progress.
class FdConsoleOutput final : public ConsoleOutput {
 public:
  static constexpr size_t kBufferBytes = 64 << 10;

  explicit FdConsoleOutput(int fd);
  explicit FdConsoleOutput(FileDescriptor owned);
  ~FdConsoleOutput() override;

  void     write(std::span<const uint8_t> bytes) override;
  void     start() override;
  void     release() override;
  Unwritten finish(std::chrono::milliseconds limit) override;

 private:
  struct Shared;  // shared with the writer thread, which may outlive this object (see the destructor)
  std::shared_ptr<Shared> shared_;
};

class NullConsoleOutput final : public ConsoleOutput {
 public:
  void write(std::span<const uint8_t>) override {}
};

}  // namespace ember
