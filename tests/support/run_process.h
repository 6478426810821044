// Runs a program to completion with stdin from a file (/dev/null unless
// said) and returns its exit status and everything it wrote, for tests that
// drive the ember binary.
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace ember::test {

struct ProcessResult {
  int         exit_code = -1;  // 128 + signal when killed by one
  std::string out;
  std::string err;
};

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_path = "/dev/null");

// The same, but the child runs `in_child` before it executes argv (to
// change its user, or its namespaces). stdin is /dev/null; in_child runs
// after fork in the test process's copy, so it may only make system calls.
ProcessResult run_process_after(const std::function<void()>& in_child, const std::vector<std::string>& argv);

// A program running while a test watches its output: stdin from
// `stdin_path` (a FIFO lets the test write it later), stdout and stderr
// into files the test reads as they grow. The destructor kills it
// (SIGKILL) if it still runs.
class BackgroundProcess {
 public:
  explicit BackgroundProcess(const std::vector<std::string>& argv, const std::string& stdin_path = "/dev/null");
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  std::string out() const;
  std::string err() const;
  // Whether stdout contains `text` within `seconds`.
  bool wait_for_out(const std::string& text, int seconds) const;
  // Sends `signal` and waits; the result's exit_code is as run_process's.
  ProcessResult stop(int signal);
  // Waits for it to end by itself.
  ProcessResult wait() { return stop(0); }
  // Whether it has not ended yet (reaps it if it has).
  bool running();
  pid_t pid() const { return pid_; }

 private:
  std::string out_path_, err_path_;
  pid_t       pid_ = -1;
  int         reaped_status_ = -1;  // its wait status, once running() reaped it
};

// Runs build/ember with `args`.
ProcessResult run_ember(const std::vector<std::string>& args, const std::string& stdin_path = "/dev/null");

// The number after "KEY": in ember's one-line `--report json` (the last
// line of its stderr that holds one), or -1.
long long report_number(const std::string& err, const std::string& key);

// The path of guest program NAME (tests/guests/NAME.c, or multiboot/NAME.c)
// as built: EMBER_GUESTS_DIR/NAME.elf.
std::string guest_program(const std::string& name);

// Whether /dev/kvm can be opened. A test that needs KVM fails without it,
// never skips: where the host has no KVM, the README's test command runs
// those tests in the nested VM (scripts/nested-kvm.sh).
bool kvm_available();
inline constexpr const char* kNoKvm =
    "/dev/kvm cannot be opened here; run the KVM tiers under a KVM (scripts/nested-kvm.sh gives one on any machine)";

}  // namespace ember::test
