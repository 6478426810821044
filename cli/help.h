#pragma once

namespace ember::cli {

extern const char* const kUsage;
extern const char* const kRunUsage;

}  // namespace ember::cli
