#include "cli/exit_codes.h"

namespace ember::cli {

int exit_code_for(const Outcome& outcome, bool command_mode) {
  switch (outcome.kind) {
    case Outcome::Kind::GuestExit:  return outcome.value;
    case Outcome::Kind::Reset:
    case Outcome::Kind::PowerOff:   return command_mode ? kExitNoCommandStatus : 0;
    case Outcome::Kind::Timeout:    return kExitTimeout;
    case Outcome::Kind::GuestCrash: return kExitGuestCrash;
    case Outcome::Kind::GuestPanic: return kExitGuestPanic;
    case Outcome::Kind::HostError:  return kExitHostError;
    case Outcome::Kind::Signal:     return kExitSignalBase + outcome.value;
    case Outcome::Kind::Snapshot:   return 0;  // the machine was saved (a failed save is a HostError)
  }
  return kExitHostError;
}

}  // namespace ember::cli
