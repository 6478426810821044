// libFuzzer target: the command-line parser, with the input split into
// arguments at NUL bytes.
#include <cstdint>
#include <string_view>
#include <vector>

#include "cli/arguments.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text{reinterpret_cast<const char*>(data), size};
  std::vector<std::string_view> args{"run"};
  for (size_t start = 0; start <= text.size();) {
    const size_t end = std::min(text.find('\0', start), text.size());
    args.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  (void)ember::cli::parse_arguments(args);
  return 0;
}
