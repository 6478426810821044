// ember's process exit status: the contract CI scripts rely on (README, "Exit codes").
#pragma once

#include "run/outcome.h"

namespace ember::cli {

inline constexpr int kExitHostError  = 1;    // no /dev/kvm, missing or bad file, host refused
inline constexpr int kExitUsage      = 2;    // bad command line
inline constexpr int kExitNoCommandStatus = 123;  // -- COMMAND: the guest stopped before reporting it (kernel panic, reboot)
inline constexpr int kExitTimeout    = 124;  // --timeout expired (as coreutils timeout)
inline constexpr int kExitGuestCrash = 125;  // triple fault, KVM internal error, dead guest
inline constexpr int kExitGuestPanic = 126;  // the guest kernel panicked (pvpanic)

// `command_mode`: a guest command was given, so a reset or power-off means
// it never reported its status.
int exit_code_for(const Outcome& outcome, bool command_mode = false);

}  // namespace ember::cli
