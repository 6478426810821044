// A scratch file holding given bytes, opened as Machine::create opens a
// kernel or an initrd (base/file.h), and removed at the end of the test.
// Its name is this process's own: ctest runs tests in parallel processes.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "base/file.h"

namespace ember::testing_support {

class OpenScratchFile {
 public:
  explicit OpenScratchFile(const std::vector<uint8_t>& bytes)
      : path_{::testing::TempDir() + "ember_scratch_" + std::to_string(::getpid()) + "_" + std::to_string(next_++)} {
    FILE* file = std::fopen(path_.c_str(), "wb");
    std::fwrite(bytes.data(), 1, bytes.size(), file);
    std::fclose(file);
    opened_ = std::move(open_input_file(path_, "scratch file", uint64_t{1} << 40).value());
  }
  ~OpenScratchFile() { ::unlink(path_.c_str()); }
  OpenScratchFile(const OpenScratchFile&) = delete;
  OpenScratchFile& operator=(const OpenScratchFile&) = delete;

  const std::string& path() const { return path_; }
  int                fd() const { return opened_.fd.get(); }
  uint64_t           size() const { return opened_.size; }

 private:
  static inline int next_ = 0;
  std::string       path_;
  OpenedFile        opened_;
};

}  // namespace ember::testing_support
