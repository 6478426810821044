// ember's process exit status: the contract CI scripts rely on (README,
// "Exit codes"), every code in one place. The guest's own status (the exit
// port, `-- COMMAND`) and 128+S for a stop signal come on top.
#pragma once

namespace ember {

inline constexpr int kExitHostError  = 1;    // no /dev/kvm, missing or bad file, host refused
inline constexpr int kExitUsage      = 2;    // bad command line
inline constexpr int kExitSeccompViolation = 122;  // ember made a system call outside its seccomp filter (a bug in ember)
inline constexpr int kExitNoCommandStatus = 123;  // -- COMMAND: the guest stopped before reporting it (kernel panic, reboot)
inline constexpr int kExitTimeout    = 124;  // --timeout expired (as coreutils timeout)
inline constexpr int kExitGuestCrash = 125;  // triple fault, KVM internal error, dead guest
inline constexpr int kExitGuestPanic = 126;  // the guest kernel panicked (pvpanic)
inline constexpr int kExitSignalBase = 128;  // + the signal that stopped ember (SIGINT, SIGTERM, SIGHUP)

}  // namespace ember
