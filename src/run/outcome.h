// How a run ended. The CLI maps each kind to a process exit code (README).
#pragma once

#include <string>

namespace ember {

struct Outcome {
  enum class Kind {
    GuestExit,   // the guest wrote `value` to the exit port
    Reset,       // the guest reset the machine (i8042 0xFE, KVM reset event)
    PowerOff,    // the guest powered off (KVM shutdown event)
    Timeout,     // --timeout expired
    GuestCrash,  // triple fault, KVM internal error, failed entry, dead guest
    GuestPanic,  // the guest kernel said it panicked (pvpanic)
    HostError,   // ember itself failed while running (an ioctl, a thread)
    Signal,      // ember got SIGINT/SIGTERM/SIGHUP (`value` is the signal)
    Snapshot,    // `ember snapshot`: the guest's init rang the command port; the machine is saved
  };
  Kind        kind;
  int         value = 0;
  std::string detail;  // for crashes and errors: what happened, register dump
};

// What devices may ask of the machine. request_stop is thread-safe; the
// first request wins and later ones are ignored.
class MachineControl {
 public:
  virtual ~MachineControl() = default;
  virtual void request_stop(Outcome outcome) = 0;
};

}  // namespace ember
