// A thread that other threads may signal (pthread_kill) only while it runs.
// pthread_kill on a thread that has ended, and perhaps been joined, is
// undefined behaviour; a stop can be requested at any time, even after the
// VCPU threads were joined (a second Ctrl-C during the final disk flush), so
// the kick goes through this gate (ARCHITECTURE.md, "Locks and their order":
// its mutex is a leaf).
#pragma once

#include <pthread.h>
#include <signal.h>

#include <mutex>

namespace ember {

class SignalableThread {
 public:
  // Held by the thread itself for as long as it may be signalled; it must
  // end before the thread does. Make it first thing, so every way out of
  // the thread's function ends it.
  class Presence {
   public:
    explicit Presence(SignalableThread& gate) : gate_{gate} {
      std::lock_guard lock{gate_.mutex_};
      gate_.thread_ = pthread_self();
      gate_.running_ = true;
    }
    ~Presence() {
      std::lock_guard lock{gate_.mutex_};
      gate_.running_ = false;
    }
    Presence(const Presence&) = delete;
    Presence& operator=(const Presence&) = delete;

   private:
    SignalableThread& gate_;
  };

  // Sends `signal_number` if the thread is running; whether it was let
  // through. The lock keeps the thread from ending between the check and
  // the signal.
  bool signal(int signal_number) {
    std::lock_guard lock{mutex_};
    if (!running_) return false;
    (void)pthread_kill(thread_, signal_number);  // a live thread: cannot fail
    return true;
  }

 private:
  std::mutex mutex_;
  pthread_t  thread_{};
  bool       running_ = false;
};

}  // namespace ember
