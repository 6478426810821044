// Feeds host input (stdin) to the UART on a thread of its own, so a VCPU never
// blocks on the host. When the UART's bounded buffer is full the thread waits
// instead of buffering more: a guest that never reads costs no memory.
#pragma once

#include <thread>

#include "base/file_descriptor.h"
#include "devices/uart16550.h"

namespace ember {

class ConsoleInput final {
 public:
  ConsoleInput(int fd, Uart16550& uart);
  ~ConsoleInput();  // stops and joins the thread
  ConsoleInput(const ConsoleInput&) = delete;
  ConsoleInput& operator=(const ConsoleInput&) = delete;

 private:
  void pump();
  bool wait_readable_or_stop(int fd, int timeout_ms) const;

  int            fd_;
  Uart16550&     uart_;
  FileDescriptor stop_event_;
  std::thread    thread_;
};

}  // namespace ember
