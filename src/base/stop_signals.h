// The signals that stop ember cleanly: SIGINT, SIGTERM and SIGHUP (README,
// "Exit codes": 128+S).
//
// Until the machine starts its first thread, ember is one thread opening
// and reading its files with no guest running, and a stop signal ends it at
// once (cli/main.cpp's start-up handler): there is nothing to flush, and a
// huge kernel file or a slow disk must not make ember deaf. Machine::create
// blocks them before it starts that first thread, so every thread inherits
// them blocked; from then on one thread collects them with sigwait and
// every stop goes through Machine::request_stop and the final flush.
#pragma once

#include <signal.h>

namespace ember {

struct StopSignal {
  int         number;
  const char* name;
};
inline constexpr StopSignal kStopSignals[] = {{SIGINT, "SIGINT"}, {SIGTERM, "SIGTERM"}, {SIGHUP, "SIGHUP"}};

// "SIGTERM" for a stop signal; async-signal-safe.
inline const char* stop_signal_name(int signal) {
  for (const StopSignal& stop : kStopSignals) {
    if (stop.number == signal) return stop.name;
  }
  return "a signal";
}

inline sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (const StopSignal& stop : kStopSignals) sigaddset(&set, stop.number);
  return set;
}

// Blocks them in the calling thread, and so in every thread it starts.
inline void block_stop_signals() {
  const sigset_t set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

}  // namespace ember
