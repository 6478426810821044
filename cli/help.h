#pragma once

#include <string>

namespace ember::cli {

extern const char* const kUsage;
// `ember run --help`: its options come from the option table (arguments.h).
std::string run_usage();

}  // namespace ember::cli
