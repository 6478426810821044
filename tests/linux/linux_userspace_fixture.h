// The base of the tests that run Linux user space. They need a KVM and never
// skip for lack of one (a green run that booted no guest proves nothing);
// they skip only on a KVM that cannot run user space at all (kvm_pvm, see
// syscall_limitation), and the nested tier runs them on stock KVM instead.
#pragma once

#include <stdlib.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "linux/linux_guest.h"
#include "support/run_process.h"

namespace ember::test {

class LinuxUserspaceFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kvm_available()) << kNoKvm;
    if (!syscall_limitation().empty()) GTEST_SKIP() << "host limitation: " << syscall_limitation();
  }
  // Whether a subclass's SetUp may go on after this one's.
  bool set_up() const { return !IsSkipped() && !HasFatalFailure(); }
  void TearDown() override {
    if (!scratch_directory_.empty()) std::filesystem::remove_all(scratch_directory_);
  }
  // A new directory under /tmp named after `purpose`, removed with all it
  // holds when the test ends.
  const std::string& scratch_directory(const std::string& purpose) {
    if (!scratch_directory_.empty()) throw std::logic_error("one scratch directory per test");
    std::string pattern = "/tmp/ember-" + purpose + "-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern + " failed");
    scratch_directory_ = pattern;
    return scratch_directory_;
  }

 private:
  std::string scratch_directory_;
};

}  // namespace ember::test
