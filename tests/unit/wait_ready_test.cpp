#include "base/wait_ready.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <thread>

#include "base/file_descriptor.h"

namespace ember {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

struct Pipe {
  Pipe() {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    read_end = FileDescriptor{ends[0]};
    write_end = FileDescriptor{ends[1]};
  }
  FileDescriptor read_end, write_end;
};

TEST(WaitReady, ReadyWhenTheDescriptorIs) {
  Pipe pipe;
  ASSERT_EQ(::write(pipe.write_end.get(), "x", 1), 1);
  EXPECT_EQ(wait_ready(pipe.read_end.get(), POLLIN, Clock::now() + 5s), Readiness::kReady);
}

TEST(WaitReady, AHungUpPeerCountsAsReadySoTheReadSaysWhy) {
  Pipe pipe;
  pipe.write_end.reset();
  EXPECT_EQ(wait_ready(pipe.read_end.get(), POLLIN, Clock::now() + 5s), Readiness::kReady);
  char byte;
  EXPECT_EQ(::read(pipe.read_end.get(), &byte, 1), 0) << "end of file";
}

TEST(WaitReady, TimesOutAtItsDeadlineAndNotBefore) {
  Pipe pipe;
  const auto start = Clock::now();
  EXPECT_EQ(wait_ready(pipe.read_end.get(), POLLIN, start + 100ms), Readiness::kTimedOut);
  EXPECT_GE(Clock::now() - start, 100ms);
}

TEST(WaitReady, ADeadlineAlreadyPastStillLooksOnce) {
  Pipe pipe;
  ASSERT_EQ(::write(pipe.write_end.get(), "x", 1), 1);
  EXPECT_EQ(wait_ready(pipe.read_end.get(), POLLIN, Clock::now() - 1s), Readiness::kReady);
}

TEST(WaitReady, TheAbortDescriptorWinsOverAReadyOne) {
  Pipe pipe;
  ASSERT_EQ(::write(pipe.write_end.get(), "x", 1), 1);
  FileDescriptor abort{::eventfd(1, EFD_CLOEXEC)};
  EXPECT_EQ(wait_ready(pipe.read_end.get(), POLLIN, Clock::now() + 5s, abort.get()), Readiness::kAborted);
}

// A signal (a VCPU kick, a timer) interrupts poll; the wait goes on with
// what is left of the deadline, neither ending early nor starting again.
TEST(WaitReady, ASignalNeitherEndsTheWaitNorStretchesIt) {
  struct sigaction action {};
  action.sa_handler = [](int) {};
  struct sigaction previous {};
  ASSERT_EQ(::sigaction(SIGUSR2, &action, &previous), 0);  // poll is never restarted: it returns EINTR (signal(7))
  Pipe pipe;
  const pthread_t waiter = pthread_self();
  std::thread interrupter{[waiter] {
    for (int i = 0; i < 10; ++i) {  // every 40 ms until 400 ms, past the deadline
      std::this_thread::sleep_for(40ms);
      pthread_kill(waiter, SIGUSR2);
    }
  }};
  const auto start = Clock::now();
  const auto readiness = wait_ready(pipe.read_end.get(), POLLIN, start + 300ms);
  const auto waited = Clock::now() - start;
  interrupter.join();
  ::sigaction(SIGUSR2, &previous, nullptr);
  EXPECT_EQ(readiness, Readiness::kTimedOut);
  EXPECT_GE(waited, 300ms) << "a signal ended the wait early";
  // A wait that started again at each signal would end 300 ms after the
  // last one that came before it ended: at 700 ms.
  EXPECT_LT(waited, 600ms) << "each signal restarted the whole wait";
}

}  // namespace
}  // namespace ember
