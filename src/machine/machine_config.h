// A validated description of the machine to build. The CLI parser is the one
// place user input is checked; Machine::create checks only what depends on
// the host (files, /dev/kvm, host RAM).
#pragma once

#include <cstdint>
#include <string>

namespace ember {

struct ConsoleConfig {
  enum class Kind { Stdio, File, None };
  Kind        kind = Kind::Stdio;
  std::string path;  // for Kind::File
};

struct MachineConfig {
  std::string   kernel_path;
  std::string   initrd_path;  // empty: no initrd
  std::string   cmdline;
  uint64_t      memory_bytes = 128ull << 20;
  uint32_t      cpus = 1;
  ConsoleConfig console;
};

}  // namespace ember
