// Runs a program to completion with stdin from a file (/dev/null unless
// said) and returns its exit status and everything it wrote, for tests that
// drive the ember binary.
#pragma once

#include <string>
#include <vector>

namespace ember::test {

struct ProcessResult {
  int         exit_code = -1;  // 128 + signal when killed by one
  std::string out;
  std::string err;
};

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_path = "/dev/null");

// Runs build/ember with `args`.
ProcessResult run_ember(const std::vector<std::string>& args, const std::string& stdin_path = "/dev/null");

// The path of guest program NAME (tests/guests/NAME.c, or multiboot/NAME.c)
// as built: EMBER_GUESTS_DIR/NAME.elf.
std::string guest_program(const std::string& name);

// Whether /dev/kvm can be opened; KVM tests skip (with this reason) otherwise.
bool kvm_available();

}  // namespace ember::test
