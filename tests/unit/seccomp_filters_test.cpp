// ember's process filter against ember's own runtime (issue 18, item 4):
// glibc's malloc, freeing enough on a thread of its own arena, shrinks that
// arena's heap, and the first shrink opens /proc/sys/vm/overcommit_memory
// (check_may_shrink_heap). The filter must answer that openat with an
// errno, never stop ember. The filter is installed in a child process, since
// it cannot be removed again.
#include "security/seccomp_filters.h"

#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

namespace ember {
namespace {

// Allocates 16 MiB in 64 KiB blocks (below the mmap threshold, so from the
// thread's arena) and frees them newest first, so the arena's top grows far
// past the trim threshold and its heap shrinks.
void make_the_arena_shrink() {
  std::vector<void*> blocks;
  for (int i = 0; i < 256; ++i) {
    void* block = std::malloc(64 << 10);
    if (block == nullptr) std::_Exit(3);
    static_cast<volatile char*>(block)[0] = 1;
    blocks.push_back(block);
  }
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) std::free(*it);
}

TEST(SeccompFilters, AThreadArenaShrinkingUnderTheProcessFilterDoesNotStopEmber) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!install_process_filter({})) std::_Exit(2);
    std::thread worker{make_the_arena_shrink};
    worker.join();
    std::_Exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_NE(WEXITSTATUS(status), kExitSeccompViolation) << "the filter stopped the process for glibc's heap trim";
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

// More threads than glibc's first eight malloc arenas: the ninth arena
// makes glibc count the CPUs (sched_getaffinity, malloc/arena.c) unless
// its arena limit is set. ember with 16 VCPUs stopped with 122 on it.
TEST(SeccompFilters, ThreadsBeyondEightMallocArenasDoNotStopEmber) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    if (!install_process_filter({})) std::_Exit(2);
    std::vector<std::thread> threads;
    std::atomic<int> allocated{0};
    for (int i = 0; i < 32; ++i) {
      threads.emplace_back([&allocated] {
        // A thread's arena returns to glibc's free list when the thread
        // ends: every thread holds its block until all have one, so none
        // can take over another's arena.
        void* block = std::malloc(1024);
        static_cast<volatile char*>(block)[0] = 1;
        ++allocated;
        while (allocated < 32) std::this_thread::yield();
        std::free(block);
      });
    }
    for (auto& thread : threads) thread.join();
    std::_Exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "122: the filter stopped the process for glibc's arena accounting";
}

// The process filter is compiled when ember is built, with a placeholder
// where ember's pid goes (security/seccomp_programs.h); installing it puts
// the pid there. Signals to ember's own threads pass, a signal to another
// process stops ember with 122 and a line naming the call.
TEST(SeccompFilters, TheProcessFilterLetsEmberSignalItsOwnThreadsAndNoOtherProcess) {
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::dup2(report[1], STDERR_FILENO);
    const pid_t parent = ::getppid();  // the filter refuses getppid
    if (!install_process_filter({})) std::_Exit(2);
    if (::syscall(SYS_tgkill, ::getpid(), ::gettid(), 0) != 0) std::_Exit(3);
    const char passed[] = "own thread signalled\n";
    if (::write(STDERR_FILENO, passed, sizeof passed - 1) < 0) std::_Exit(5);
    ::syscall(SYS_tgkill, parent, parent, 0);
    std::_Exit(4);
  }
  ::close(report[1]);
  std::string stderr_text;
  char buffer[256];
  for (ssize_t got; (got = ::read(report[0], buffer, sizeof buffer)) > 0;) stderr_text.append(buffer, static_cast<size_t>(got));
  ::close(report[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by signal " << (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  EXPECT_EQ(WEXITSTATUS(status), kExitSeccompViolation) << "3: its own thread refused; 4: another process allowed";
  EXPECT_NE(stderr_text.find("own thread signalled\n"), std::string::npos) << stderr_text;
  EXPECT_NE(stderr_text.find("(tgkill) is outside its filter"), std::string::npos) << stderr_text;
}

}  // namespace
}  // namespace ember
