// Hostile inputs (tests/HOSTILE-INPUTS.md) that need a running ember to show: a console
// flood against a blocked host console, code run from the MMIO hole, string
// I/O with large counts, and /dev/kvm missing or not permitted. Where each
// list item is covered is in tests/HOSTILE-INPUTS.md.
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "console/console_output.h"
#include "support/run_process.h"

namespace ember::test {
namespace {

// Waits until ember's writes to a pipe nobody reads have stopped: what it
// holds stays the same for half a second. Gives up after 60 s.
bool wait_until_pipe_is_full(int read_end) {
  // Full is "holds output and stopped growing while the guest floods": a
  // blocked writer. Not "holds about its capacity": Linux merges a write
  // into the pipe's last page only when all of it fits there, so a pipe
  // of one page stays part-filled behind a writer blocked on its next
  // chunk (how full depends on the sizes ember happened to write).
  int queued = 0, before = -1, stable_for = 0;
  for (int i = 0; i < 6000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    if (ioctl(read_end, FIONREAD, &queued) != 0) return false;
    stable_for = queued == before ? stable_for + 1 : 0;
    before = queued;
    if (queued > 0 && stable_for >= 50) return true;
  }
  return false;
}

// Starts ember on the uart_flood program, `bytes` long, with stdout on
// `stdout_fd`, stdin on /dev/null and stderr on `stderr_path` (empty:
// /dev/null). Returns the child's pid, or -1.
pid_t spawn_uart_flood(int stdout_fd, const std::string& stderr_path, const char* timeout, size_t bytes) {
  const std::string program = guest_program("uart_flood");
  const std::string bytes_parameter = "bytes=" + std::to_string(bytes);
  const pid_t pid = fork();
  if (pid != 0) return pid;
  dup2(stdout_fd, STDOUT_FILENO);
  const int null_fd = open("/dev/null", O_RDWR);
  dup2(null_fd, STDIN_FILENO);
  dup2(stderr_path.empty() ? null_fd : open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600), STDERR_FILENO);
  execl(EMBER_BINARY, EMBER_BINARY, "run", "--kernel", program.c_str(), "--memory", "64M", "--timeout", timeout, "--cmdline",
        bytes_parameter.c_str(), static_cast<char*>(nullptr));
  _exit(127);
}

class HostilePrograms : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kvm_available()) << kNoKvm;
  }
};

// VmRSS of `pid` in KiB, or -1.
long resident_kib(pid_t pid) {
  std::ifstream status{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// User plus system CPU time of `pid`, all threads, in clock ticks; or -1.
long cpu_ticks(pid_t pid) {
  std::ifstream stat_file{"/proc/" + std::to_string(pid) + "/stat"};
  std::string text{std::istreambuf_iterator<char>{stat_file}, {}};
  const auto after_name = text.rfind(')');
  if (after_name == std::string::npos) return -1;
  std::istringstream fields{text.substr(after_name + 2)};
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {  // proc(5): utime is field 14, stime 15
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

// The guest writes 128 KiB (two pipes' worth) to COM1 while nobody reads
// ember's stdout. The VCPU must wait for the console, not ember buffer the
// flood: once the pipe is full, ember uses no CPU and its memory stays flat;
// once the test reads, every byte arrives and the guest exits 0.
TEST_F(HostilePrograms, UartFloodAgainstABlockedConsoleKeepsMemoryBoundedAndLosesNothing) {
  // Every byte is a port exit: about 110 µs each in the nested tier.
  constexpr size_t kBytes = 160u << 10;
  int out_pipe[2];
  ASSERT_EQ(pipe2(out_pipe, O_CLOEXEC), 0);
  // More than the pipe and ember's console buffer hold together, with pages
  // to spare: else the guest could finish while blocked, and ember, whose
  // reader then made no progress for its drain limit, would drop the buffer
  // at exit, as it should (it did so in about 1 run of 12 at 128 KiB).
  const int pipe_bytes = fcntl(out_pipe[0], F_GETPIPE_SZ);
  ASSERT_GT(pipe_bytes, 0);
  ASSERT_GE(kBytes, static_cast<size_t>(pipe_bytes) + FdConsoleOutput::kBufferBytes + (16u << 10));
  const pid_t pid = spawn_uart_flood(out_pipe[1], "", "100", kBytes);
  ASSERT_GE(pid, 0);
  close(out_pipe[1]);

  // Wait until the pipe holds all it can, then until ember's console buffer
  // (FdConsoleOutput::kBufferBytes) is full too and ember goes idle: from
  // then on the guest can only go on if ember takes its bytes somewhere
  // else. In the nested tier one 4 KiB `rep outsb` can take a second of CPU.
  ASSERT_TRUE(wait_until_pipe_is_full(out_pipe[0])) << "the pipe never filled";
  const long ticks_per_second = sysconf(_SC_CLK_TCK);
  bool idle = false;
  for (int second = 0; second < 120 && !idle; ++second) {
    const long before = cpu_ticks(pid);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    idle = cpu_ticks(pid) - before < ticks_per_second / 10;
  }
  ASSERT_TRUE(idle) << "ember never went idle with its console blocked";
  const long rss_before = resident_kib(pid), ticks_before = cpu_ticks(pid);
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const long rss_after = resident_kib(pid), ticks_after = cpu_ticks(pid);
  ASSERT_GT(rss_before, 0);
  ASSERT_GE(ticks_before, 0);
  EXPECT_LT(ticks_after - ticks_before, ticks_per_second / 5)
      << "ember kept running the guest (or spinning) while its console was blocked";
  EXPECT_LT(rss_after - rss_before, 128) << "ember's memory grew while its console was blocked: " << rss_before << " KiB, then "
                                         << rss_after << " KiB";

  size_t received = 0, newlines = 0;
  char buffer[65536];
  for (ssize_t got; (got = read(out_pipe[0], buffer, sizeof buffer)) != 0;) {
    if (got < 0 && errno == EINTR) continue;
    ASSERT_GT(got, 0);
    received += static_cast<size_t>(got);
    for (ssize_t i = 0; i < got; ++i) newlines += buffer[i] == '\n';
  }
  close(out_pipe[0]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_EQ(received, kBytes) << "console bytes were lost or invented";
  EXPECT_EQ(newlines, kBytes / 64);
}

// The console's reader stops reading for good while the guest floods COM1
// (issue 18, items 5 and 6): --timeout and SIGTERM must still stop ember,
// promptly, saying how much output was not written, also when stdout is a
// non-blocking pipe (the writer then polls, which no VCPU thread may do).
struct StalledConsoleCase {
  const char* name;
  bool        sigterm;      // else --timeout 30
  bool        nonblocking;  // O_NONBLOCK on ember's stdout
};

class StalledConsole : public HostilePrograms, public ::testing::WithParamInterface<StalledConsoleCase> {};

TEST_P(StalledConsole, StopStillStopsAndSaysWhatWasNotWritten) {
  const auto& param = GetParam();
  int out_pipe[2];
  ASSERT_EQ(pipe2(out_pipe, O_CLOEXEC), 0);
  // One page of pipe: full after the guest's first 4 KiB, so even a slow
  // host (the nested tier, busy) leaves output unwritten by the time the
  // stop comes.
  ASSERT_EQ(fcntl(out_pipe[1], F_SETPIPE_SZ, 4096), 4096);
  if (param.nonblocking) {
    ASSERT_EQ(fcntl(out_pipe[1], F_SETFL, O_NONBLOCK), 0);
  }
  const std::string err_path = ::testing::TempDir() + "ember_stalled_console_" + param.name;
  auto stop_requested = std::chrono::steady_clock::now() + std::chrono::seconds(30);  // --timeout, for that case
  const pid_t pid = spawn_uart_flood(out_pipe[1], err_path, param.sigterm ? "100" : "30", 1u << 20);
  ASSERT_GE(pid, 0);
  close(out_pipe[1]);
  // SIGTERM once the pipe is full; --timeout (30 s) comes by itself, by
  // when the pipe and part of ember's console buffer are full.
  if (param.sigterm) {
    ASSERT_TRUE(wait_until_pipe_is_full(out_pipe[0])) << "the pipe never filled";
    kill(pid, SIGTERM);
    stop_requested = std::chrono::steady_clock::now();
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  const auto seconds_after_stop = std::chrono::duration<double>(std::chrono::steady_clock::now() - stop_requested).count();
  close(out_pipe[0]);
  std::ifstream err_file(err_path);
  const std::string err((std::istreambuf_iterator<char>(err_file)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status << "\n" << err;
  EXPECT_EQ(WEXITSTATUS(status), param.sigterm ? 128 + SIGTERM : 124) << err;
  EXPECT_NE(err.find("bytes of guest output were not written"), std::string::npos) << err;
  // The console waits at most 3 s for its reader; the rest is the stop.
  EXPECT_LT(seconds_after_stop, 10.0) << err;
}

INSTANTIATE_TEST_SUITE_P(Stops, StalledConsole,
                         ::testing::Values(StalledConsoleCase{"timeout", false, false}, StalledConsoleCase{"sigterm", true, false},
                                           StalledConsoleCase{"timeout_nonblocking", false, true},
                                           StalledConsoleCase{"sigterm_nonblocking", true, true}),
                         [](const auto& test_info) { return std::string(test_info.param.name); });

// A terminal paused by XOFF (Ctrl-S) while the guest floods COM1 (issue 18,
// item 6): the terminal's reader keeps reading, but the tty holds ember's
// writes. --timeout must still stop ember promptly, saying how much output
// was not written.
TEST_F(HostilePrograms, ATerminalPausedByXoffStillLetsTimeoutStopEmber) {
  const int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(master, 0) << "no pseudo-terminal: " << std::strerror(errno);
  ASSERT_EQ(grantpt(master), 0);
  ASSERT_EQ(unlockpt(master), 0);
  const int terminal = open(ptsname(master), O_RDWR | O_NOCTTY | O_CLOEXEC);
  ASSERT_GE(terminal, 0);
  termios settings{};
  ASSERT_EQ(tcgetattr(terminal, &settings), 0);
  ASSERT_NE(settings.c_iflag & IXON, 0u) << "a new terminal has XON/XOFF output control";
  // The state XOFF (Ctrl-S) puts the terminal in; tcflow makes it so before
  // it returns, where a typed ^S is acted on by a later kernel work item.
  ASSERT_EQ(tcflow(terminal, TCOOFF), 0);

  // The reader reads all along; with output stopped, nothing reaches it.
  std::atomic<bool> done{false};
  std::atomic<size_t> received{0};
  std::jthread reader{[&] {
    char buffer[4096];
    while (!done) {
      pollfd ready{master, POLLIN, 0};
      if (poll(&ready, 1, 100) <= 0) continue;
      const ssize_t got = read(master, buffer, sizeof buffer);
      if (got > 0) received += static_cast<size_t>(got);
    }
  }};
  struct StopReader {  // also when an ASSERT returns early
    std::atomic<bool>& done;
    ~StopReader() { done = true; }
  } stop_reader{done};
  const std::string err_path = ::testing::TempDir() + "ember_xoff_console";
  const auto started = std::chrono::steady_clock::now();
  const pid_t pid = spawn_uart_flood(terminal, err_path, "20", 1u << 20);
  ASSERT_GE(pid, 0);
  close(terminal);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  done = true;
  reader.join();
  close(master);
  std::ifstream err_file(err_path);
  const std::string err((std::istreambuf_iterator<char>(err_file)), std::istreambuf_iterator<char>());
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status << "\n" << err;
  EXPECT_EQ(WEXITSTATUS(status), 124) << err;
  EXPECT_NE(err.find("bytes of guest output were not written"), std::string::npos) << err;
  EXPECT_EQ(received.load(), 0u) << "output went through a terminal paused by XOFF";
  // --timeout is 20 s; the console waits at most 3 s for its reader.
  EXPECT_LT(seconds, 30.0) << err;
}

// Code in the MMIO hole: KVM cannot fetch instructions there. ember stops
// the VM as a crash (125) with a report, whichever way the host's KVM says it.
TEST_F(HostilePrograms, JumpIntoTheMmioHoleStopsTheVmWithAReport) {
  const auto result = run_ember({"run", "--kernel", guest_program("jump_to_mmio"), "--memory", "64M", "--timeout", "30"});
  EXPECT_EQ(result.out, "jumping to 0xd8000000\n");
  EXPECT_EQ(result.exit_code, 125) << result.err;
  EXPECT_NE(result.err.find("rip="), std::string::npos) << "the report has the registers: " << result.err;
}

TEST_F(HostilePrograms, StringIoWithLargeCountsToAnUnmappedPort) {
  const auto result = run_ember({"run", "--kernel", guest_program("rep_outs"), "--memory", "64M", "--timeout", "60"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out, "written by rep outsb\n");
}

// The console's reader is gone (`ember run ... | head` after head exits):
// the guest runs to its own exit with its output dropped, and ember says so.
TEST_F(HostilePrograms, ConsoleReaderGoneKeepsTheGuestRunning) {
  const auto result = run_process_after(
      [] {
        int ends[2];
        if (pipe(ends) != 0) _exit(90);
        close(ends[0]);  // nobody will ever read
        dup2(ends[1], STDOUT_FILENO);
      },
      {EMBER_BINARY, "run", "--kernel", guest_program("hello"), "--cmdline", "exit=7", "--timeout", "30"});
  EXPECT_EQ(result.exit_code, 7) << "the guest's own status, not SIGPIPE's 141: " << result.err;
  EXPECT_NE(result.err.find("console output failed"), std::string::npos) << result.err;
}

// No /dev/kvm at all: ember runs in a mount namespace whose /dev is an
// empty tmpfs. Needs root (CAP_SYS_ADMIN) to build that namespace.
TEST(KvmAccess, MissingDevKvmIsOneClearErrorWithStatus1) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to make a mount namespace without /dev/kvm";
  const auto result = run_process_after(
      [] {
        if (unshare(CLONE_NEWNS) != 0 || mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
            mount("tmpfs", "/dev", "tmpfs", 0, nullptr) != 0) {
          _exit(90);
        }
      },
      {EMBER_BINARY, "run", "--kernel", guest_program("hello")});
  if (result.exit_code == 90) GTEST_SKIP() << "this host does not let root make a mount namespace (no CAP_SYS_ADMIN)";
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find("/dev/kvm does not exist"), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty());
}

// /dev/kvm present but not for this user: ember runs as nobody.
TEST(KvmAccess, DevKvmNotPermittedIsOneClearErrorWithStatus1) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run ember as another user";
  struct stat kvm {};
  ASSERT_EQ(stat("/dev/kvm", &kvm), 0) << kNoKvm;
  if ((kvm.st_mode & S_IROTH) && (kvm.st_mode & S_IWOTH)) GTEST_SKIP() << "/dev/kvm is open to every user on this host";
  // Copies nobody can reach wherever the build directory is (CI may build
  // under a home directory only root may enter).
  char directory[] = "/tmp/ember-nobody-XXXXXX";
  ASSERT_NE(mkdtemp(directory), nullptr);
  const std::string binary = std::string(directory) + "/ember", kernel = std::string(directory) + "/hello.elf";
  std::filesystem::copy_file(EMBER_BINARY, binary);
  std::filesystem::copy_file(guest_program("hello"), kernel);
  ASSERT_EQ(chmod(directory, 0755), 0);
  ASSERT_EQ(chmod(binary.c_str(), 0755), 0);
  ASSERT_EQ(chmod(kernel.c_str(), 0644), 0);
  constexpr uid_t kNobody = 65534;
  const auto result = run_process_after(
      [] {
        if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 || setuid(kNobody) != 0) _exit(90);
      },
      {binary, "run", "--kernel", kernel});
  std::filesystem::remove_all(directory);
  ASSERT_NE(result.exit_code, 90) << "the test could not become nobody";
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.err.find("/dev/kvm is not accessible to this user"), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty());
}

}  // namespace
}  // namespace ember::test
