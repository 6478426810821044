// A running ember holds no capabilities and cannot gain any (issue 7): its
// /proc status, read while the guest runs, for every thread.
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "security/seccomp_filters.h"
#include "support/run_process.h"

extern char** environ;

namespace ember::test {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The value after "Key:\t" in a /proc status file.
std::string status_field(const std::string& status, const std::string& key) {
  const std::string text = "\n" + status;  // the first line has no newline before it
  const auto at = text.find("\n" + key + ":\t");
  if (at == std::string::npos) return "";
  const auto start = at + key.size() + 3;
  return text.substr(start, text.find('\n', start) - start);
}

// Starts ember on a spinning guest, waits until it has dropped privileges
// (no_new_privs is set just before the guest starts) and, when
// `vcpu_filters` is set, until both VCPU threads have stacked their own
// seccomp filter (each does so just before its guest's first instruction,
// which on a slow host is well after no_new_privs), and returns the status
// of each of its threads; then stops it.
int threads_with_two_filters(const std::vector<std::string>& statuses) {
  int count = 0;
  for (const auto& status : statuses) {
    if (status_field(status, "Name") == "ember") count += status_field(status, "Seccomp_filters") == "2" ? 1 : 0;
  }
  return count;
}

std::vector<std::string> thread_statuses_while_running(std::vector<std::string> extra, bool vcpu_filters = false) {
  std::vector<std::string> args{EMBER_BINARY, "run", "--kernel", guest_program("spin"), "--cpus", "2",
                                "--console", "none", "--timeout", "60"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  posix_spawn_file_actions_t quiet;
  posix_spawn_file_actions_init(&quiet);
  posix_spawn_file_actions_addopen(&quiet, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  const int spawned = posix_spawn(&pid, argv[0], &quiet, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&quiet);
  if (spawned != 0) return {};
  std::vector<std::string> statuses;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < give_up) {
    const std::string base = "/proc/" + std::to_string(pid);
    // The VCPU threads exist once the guest runs: ember's main thread, the
    // PIT's and two VCPUs at least.
    std::vector<std::string> tasks;
    if (DIR* dir = opendir((base + "/task").c_str())) {
      while (const dirent* entry = readdir(dir)) {
        if (entry->d_name[0] != '.') tasks.push_back(read_file(base + "/task/" + entry->d_name + "/status"));
      }
      closedir(dir);
    }
    if (tasks.size() >= 4 && status_field(tasks.front(), "NoNewPrivs") == "1" &&
        (!vcpu_filters || threads_with_two_filters(tasks) >= 2)) {
      statuses = tasks;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid, SIGTERM);
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  return statuses;
}

class Privileges : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kvm_available()) << kNoKvm;
  }
  // The sanitizer build (same flags for ember and its tests) runs ember
  // without seccomp: see security/seccomp_filters.h.
  static bool seccomp_by_default() { return kSeccompByDefault; }
};

TEST_F(Privileges, EveryThreadHoldsNoCapabilityAndNoNewPrivsIsSet) {
  const auto statuses = thread_statuses_while_running({}, seccomp_by_default());
  ASSERT_GE(statuses.size(), 4u) << "ember did not reach a running guest with no_new_privs set";
  for (const auto& status : statuses) {
    EXPECT_EQ(status_field(status, "CapEff"), "0000000000000000") << status;
    EXPECT_EQ(status_field(status, "CapPrm"), "0000000000000000") << status;
    EXPECT_EQ(status_field(status, "CapInh"), "0000000000000000") << status;
    EXPECT_EQ(status_field(status, "CapAmb"), "0000000000000000") << status;
    if (geteuid() == 0) {
      EXPECT_EQ(status_field(status, "CapBnd"), "0000000000000000") << status;
    }
    EXPECT_EQ(status_field(status, "NoNewPrivs"), "1") << status;
    if (seccomp_by_default()) {
      EXPECT_EQ(status_field(status, "Seccomp"), "2") << "every thread runs under a seccomp filter: " << status;
    }
  }
  if (!seccomp_by_default()) return;
  // The VCPU threads stack their own filter on the process-wide one. (KVM's
  // own worker, kvm-nx-lpage-recovery, inherits a VCPU thread's filters.)
  EXPECT_EQ(threads_with_two_filters(statuses), 2) << "two VCPU threads";
}

TEST_F(Privileges, ASystemCallOutsideTheFilterStopsEmberNamingIt) {
  if (!seccomp_by_default()) GTEST_SKIP() << "sanitizer build: ember runs without seccomp";
  const std::string command = std::string("EMBER_SECCOMP_SELF_TEST=1 ") + EMBER_BINARY + " run --kernel " + guest_program("hello") +
                              " --timeout 30";
  const auto result = run_process({"/bin/sh", "-c", command});
  EXPECT_EQ(result.exit_code, 122) << result.out << result.err;
  EXPECT_NE(result.err.find("system call 110 (getppid) is outside its filter"), std::string::npos) << result.err;
}

// Issue 18, item 12: the process filter checks arguments where it can. A
// terminal ioctl other than TCGETS (TIOCSTI types into the terminal), a
// clone that would make a new process and an executable mapping each stop
// ember, naming the call.
TEST_F(Privileges, TheFilterChecksArgumentsOfIoctlCloneAndMmap) {
  if (!seccomp_by_default()) GTEST_SKIP() << "sanitizer build: ember runs without seccomp";
  struct Case {
    const char* test;
    const char* call;
  };
  for (const auto& c : {Case{"tiocsti", "(ioctl)"}, Case{"fork", "(clone)"}, Case{"exec-mmap", "(mmap)"}}) {
    SCOPED_TRACE(c.test);
    const std::string command = std::string("EMBER_SECCOMP_SELF_TEST=") + c.test + " " + EMBER_BINARY + " run --kernel " +
                                guest_program("hello") + " --timeout 30";
    const auto result = run_process({"/bin/sh", "-c", command});
    EXPECT_EQ(result.exit_code, 122) << result.out << result.err;
    EXPECT_NE(result.err.find(std::string(c.call) + " is outside its filter"), std::string::npos) << result.err;
    EXPECT_EQ(result.err.find("not refused"), std::string::npos) << result.err;
  }
}

// glibc's malloc opens /proc/sys/vm/overcommit_memory the first time a
// thread's heap shrinks; the filters answer EACCES instead of stopping ember.
TEST_F(Privileges, AnOpenUnderTheFilterFailsWithEaccesAndEmberRunsOn) {
  if (!seccomp_by_default()) GTEST_SKIP() << "sanitizer build: ember runs without seccomp";
  const std::string command = std::string("EMBER_SECCOMP_SELF_TEST=openat ") + EMBER_BINARY + " run --kernel " +
                              guest_program("hello") + " --timeout 30";
  const auto result = run_process({"/bin/sh", "-c", command});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.err.find("seccomp self-test: openat refused with EACCES"), std::string::npos) << result.err;
  EXPECT_EQ(result.out, "Hello from an ember guest program\n");
}

// Issue 18, item 13: without --user ember keeps its uid but drops the
// supplementary groups it was started with (docker, disk, ...).
TEST_F(Privileges, WithoutUserSupplementaryGroupsAreDropped) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to give ember supplementary groups";
  std::vector<gid_t> saved(static_cast<size_t>(::getgroups(0, nullptr)));
  ASSERT_EQ(::getgroups(static_cast<int>(saved.size()), saved.data()), static_cast<int>(saved.size()));
  const gid_t given[] = {27, 100};
  ASSERT_EQ(::setgroups(2, given), 0);
  const auto statuses = thread_statuses_while_running({});
  ASSERT_EQ(::setgroups(saved.size(), saved.data()), 0);
  ASSERT_GE(statuses.size(), 4u);
  for (const auto& status : statuses) {
    std::string groups = status_field(status, "Groups");
    groups.erase(std::remove(groups.begin(), groups.end(), ' '), groups.end());  // the kernel ends the list with a space
    EXPECT_EQ(groups, "") << status;
  }
}

TEST_F(Privileges, SeccompOffLeavesThreadsUnfiltered) {
  const auto statuses = thread_statuses_while_running({"--seccomp", "off"});
  ASSERT_GE(statuses.size(), 4u);
  for (const auto& status : statuses) EXPECT_EQ(status_field(status, "Seccomp"), "0") << status;
}

TEST_F(Privileges, UserOptionSwitchesToAnUnprivilegedUser) {
  if (geteuid() != 0) GTEST_SKIP() << "--user needs root";
  const auto statuses = thread_statuses_while_running({"--user", "65534:65534"});
  ASSERT_GE(statuses.size(), 4u);
  for (const auto& status : statuses) {
    EXPECT_EQ(status_field(status, "Uid"), "65534\t65534\t65534\t65534") << status;
    EXPECT_EQ(status_field(status, "Gid"), "65534\t65534\t65534\t65534") << status;
    EXPECT_EQ(status_field(status, "CapEff"), "0000000000000000") << status;
  }
}

TEST_F(Privileges, GuestStillRunsToItsExitAfterTheDrop) {
  const auto result = run_ember({"run", "--kernel", guest_program("hello"), "--timeout", "30"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
}

}  // namespace
}  // namespace ember::test
