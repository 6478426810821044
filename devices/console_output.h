// Where the guest's console bytes go: stdout, a file, or nowhere.
#pragma once

#include <cstdint>
#include <span>

#include "base/file_descriptor.h"

namespace ember {

class ConsoleOutput {
 public:
  virtual ~ConsoleOutput() = default;
  virtual void write(std::span<const uint8_t> bytes) = 0;
};

// Writes every byte to a file descriptor, blocking if the reader is slow: a
// blocked console stalls the writing VCPU (as a UART whose THR never empties
// would), and no host memory grows.
class FdConsoleOutput final : public ConsoleOutput {
 public:
  explicit FdConsoleOutput(int fd) : fd_{fd} {}
  explicit FdConsoleOutput(FileDescriptor owned) : fd_{owned.get()}, owned_{std::move(owned)} {}
  void write(std::span<const uint8_t> bytes) override;

 private:
  int            fd_;
  FileDescriptor owned_;
};

class NullConsoleOutput final : public ConsoleOutput {
 public:
  void write(std::span<const uint8_t>) override {}
};

}  // namespace ember
