// ember's command-line entry point: parse, build the machine, run it, and turn
// the outcome into the documented exit status. Exceptions stop here.
#include <signal.h>
#include <unistd.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <string_view>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "base/stop_signals.h"
#include "cli/arguments.h"
#include "cli/exit_codes.h"
#include "cli/help.h"
#include "machine/machine.h"
#include "security/seccomp_filters.h"

namespace {

using ember::Outcome;

// A stop signal before Machine::create blocks the stop signals finds ember
// one thread reading its files, with no guest started: nothing to flush,
// so it ends at once with a stop's status, 128+S (base/stop_signals.h).
// Only async-signal-safe calls here.
extern "C" void stop_during_start_up(int signal) {
  const char* parts[] = {"ember: stopped by ", ember::stop_signal_name(signal), " during start-up; the guest never ran\n"};
  for (const char* part : parts) (void)!::write(STDERR_FILENO, part, std::strlen(part));
  ::_exit(ember::kExitSignalBase + signal);
}

void stop_at_once_during_start_up() {
  struct sigaction action {};
  action.sa_handler = stop_during_start_up;
  sigemptyset(&action.sa_mask);
  for (const auto& stop : ember::kStopSignals) ::sigaction(stop.number, &action, nullptr);
  const sigset_t signals = ember::stop_signals();
  pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
}

// "2", "0.5", "1.25": the value the user gave, without trailing zeros.
std::string seconds_text(std::chrono::milliseconds duration) {
  const auto millis = duration.count();
  std::string text = std::to_string(millis / 1000);
  if (const auto fraction = millis % 1000; fraction != 0) {
    std::string digits = std::to_string(1000 + fraction).substr(1);
    while (digits.back() == '0') digits.pop_back();
    text += "." + digits;
  }
  return text;
}

void report(const Outcome& outcome, const ember::cli::Invocation& invocation) {
  switch (outcome.kind) {
    case Outcome::Kind::GuestCrash:
      ember::log::error("the guest crashed: " + outcome.detail);
      break;
    case Outcome::Kind::GuestPanic:
    case Outcome::Kind::HostError:
      ember::log::error(outcome.detail);
      break;
    case Outcome::Kind::Timeout:
      ember::log::error("--timeout of " + seconds_text(*invocation.timeout) + " s expired; the guest was stopped. Where its VCPUs were:\n" +
                        outcome.detail);
      break;
    case Outcome::Kind::Signal:
      ember::log::error(std::string("stopped by signal ") + strsignal(outcome.value) + ". Where its VCPUs were:\n" + outcome.detail);
      break;
    case Outcome::Kind::Snapshot:
      std::cerr << "ember: the machine is saved in " << invocation.machine.snapshot_dir
                << "; run it with 'ember run --restore " << invocation.machine.snapshot_dir << " -- COMMAND'\n";
      break;
    case Outcome::Kind::Reset:
    case Outcome::Kind::PowerOff:
      if (!invocation.guest_command.empty()) {
        ember::log::error("the guest stopped (" + outcome.detail + ") before the command reported its exit status (a kernel without pvpanic reboots this way when it panics)");
      }
      break;
    default:
      break;
  }
}

const char* outcome_name(Outcome::Kind kind) {
  switch (kind) {
    case Outcome::Kind::GuestExit:  return "guest_exit";
    case Outcome::Kind::Reset:      return "reset";
    case Outcome::Kind::PowerOff:   return "power_off";
    case Outcome::Kind::Timeout:    return "timeout";
    case Outcome::Kind::GuestCrash: return "guest_crash";
    case Outcome::Kind::GuestPanic: return "guest_panic";
    case Outcome::Kind::HostError:  return "host_error";
    case Outcome::Kind::Signal:     return "signal";
    case Outcome::Kind::Snapshot:   return "snapshot";
  }
  return "unknown";
}

// When main() began (monotonic), for the start-up figure in --report json.
uint64_t g_main_entered_ns = 0;

// --report json: one line, so CI can take the last line of stderr.
void print_report(const Outcome& outcome, int status, const ember::Machine::Statistics& statistics) {
  std::string json = std::string("{\"status\":") + std::to_string(status) + ",\"outcome\":\"" + outcome_name(outcome.kind) +
                     "\",\"wall_ms\":" + std::to_string(statistics.wall_ns / 1'000'000) + ",\"boot_to_init_ms\":" +
                     (statistics.init_reached_ns ? std::to_string(*statistics.init_reached_ns / 1'000'000) : "null") +
                     ",\"exits\":{";
  for (size_t i = 0; i < statistics.exits.size(); ++i) {
    json += (i ? ",\"" : "\"") + statistics.exits[i].first + "\":" + std::to_string(statistics.exits[i].second);
  }
  json += "}";
  // Start-up: main() to the boot VCPU's first KVM_RUN (exec and dynamic
  // linking come before main and are not in it). Memory: peak RSS, and how
  // much of it is guest RAM the guest touched.
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  if (statistics.first_run_ns != 0) json += ",\"startup_us\":" + std::to_string((statistics.first_run_ns - g_main_entered_ns) / 1000);
  json += ",\"peak_rss_kib\":" + std::to_string(usage.ru_maxrss) +
          ",\"guest_resident_kib\":" + std::to_string(statistics.guest_resident_bytes / 1024) + "}\n";
  std::fputs(json.c_str(), stderr);
}

// --dump-dtb: the machine was built (every file, device and KVM checked),
// so the tree describes exactly what would run; the guest does not start.
int dump_device_tree(const ember::Machine& machine, const std::string& path) {
  auto tree = machine.device_tree();
  if (!tree) {
    ember::log::error(tree.error().message);
    return ember::kExitHostError;
  }
  std::FILE* file = std::fopen(path.c_str(), "wb");
  const bool written = file != nullptr && std::fwrite(tree->data(), 1, tree->size(), file) == tree->size();
  if (file == nullptr || std::fclose(file) != 0 || !written) {
    ember::log::error("cannot write the device tree to '" + path + "': " + std::strerror(errno));
    return ember::kExitHostError;
  }
  return 0;
}

int run(const ember::cli::Invocation& invocation) {
  stop_at_once_during_start_up();
  auto machine = ember::Machine::create(invocation.machine);  // blocks the stop signals before its first thread
  if (!machine) {
    ember::log::error(machine.error().message);
    return ember::kExitHostError;
  }
  if (!invocation.dump_dtb_path.empty()) {
    // No guest will run: a stop signal while the tree is written (to a
    // FIFO nobody reads, say) ends ember at once, as during start-up.
    const sigset_t signals = ember::stop_signals();
    pthread_sigmask(SIG_UNBLOCK, &signals, nullptr);
    return dump_device_tree(**machine, invocation.dump_dtb_path);
  }

  std::thread signal_waiter{[&machine] {
    const sigset_t signals = ember::stop_signals();
    int signal = 0;
    if (sigwait(&signals, &signal) == 0) (*machine)->request_stop(Outcome{Outcome::Kind::Signal, signal, {}});
  }};
  signal_waiter.detach();  // it may stay blocked in sigwait; the process exits anyway

  const Outcome outcome = (*machine)->run(invocation.timeout);
  report(outcome, invocation);
  const int status = ember::cli::exit_code_for(outcome, !invocation.guest_command.empty());
  if (invocation.report_json) print_report(outcome, status, (*machine)->statistics());
  std::fflush(stdout);
  std::fflush(stderr);
  // Leave without destroying the machine: the detached signal thread may
  // still hold a reference to it.
  std::_Exit(status);
}

}  // namespace

int main(int argc, char** argv) {
  g_main_entered_ns = ember::monotonic_ns();
  // A console reader, TAP peer or vsock host program that goes away is an
  // EPIPE for the writer to handle (console output is then dropped and the
  // guest runs on), never a signal that kills ember with disks unflushed.
  std::signal(SIGPIPE, SIG_IGN);
  (void)ember::limit_malloc_arenas();  // again, checked, when the filter is installed
  try {
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    const auto invocation = ember::cli::parse_arguments(args);
    if (!invocation) {
      std::cerr << "ember: " << invocation.error().message << "\nRun 'ember --help' for usage.\n";
      return ember::kExitUsage;
    }
    switch (invocation->command) {
      case ember::cli::Command::Help:    std::cout << ember::cli::kUsage; return 0;
      case ember::cli::Command::RunHelp: std::cout << ember::cli::run_usage(); return 0;
      case ember::cli::Command::Version: std::cout << "ember " EMBER_VERSION "\n"; return 0;
      case ember::cli::Command::Run:
      case ember::cli::Command::Snapshot: return run(*invocation);
    }
  } catch (const std::exception& e) {
    std::cerr << "ember: internal error: " << e.what() << "\n";
  }
  return ember::kExitHostError;
}
