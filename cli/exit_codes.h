// How a run's outcome becomes ember's exit status (the codes themselves:
// run/exit_codes.h).
#pragma once

#include "run/exit_codes.h"
#include "run/outcome.h"

namespace ember::cli {

// `command_mode`: a guest command was given, so a reset or power-off means
// it never reported its status.
int exit_code_for(const Outcome& outcome, bool command_mode = false);

}  // namespace ember::cli
