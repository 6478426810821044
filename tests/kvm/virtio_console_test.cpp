// virtio-console as the guest's console (--console virtio), driven by a
// guest program with a minimal driver (kvm tier).
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "support/run_process.h"

namespace ember::test {
namespace {

class VirtioConsole : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kvm_available()) << kNoKvm;
    char path[] = "/tmp/ember-console-input-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    ::close(fd);
    input_ = path;
  }
  void TearDown() override { ::unlink(input_.c_str()); }

  void write_input(const std::string& text) const { std::ofstream{input_} << text; }

  std::string input_;
};

TEST_F(VirtioConsole, CarriesGuestOutputAndStdinAndSilencesTheSerialPort) {
  // The line is longer than the guest's 4-byte input buffers, so it arrives
  // split over several of them, in order.
  write_input("ping over hvc0\n");
  const auto result = run_ember({"run", "--kernel", guest_program("virtio_console"), "--console", "virtio", "--timeout", "60"}, input_);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "hello from virtio-console\nguest read: ping over hvc0\n");
  EXPECT_EQ(result.out.find("serial port"), std::string::npos);
}

TEST_F(VirtioConsole, GuestWaitsForInputThatEndsBeforeALine) {
  // Input that ends (EOF) without a newline: the guest gets the bytes there
  // are and then nothing more, so it waits and reports that no input came.
  write_input("abc");
  const auto result = run_ember(
      {"run", "--kernel", guest_program("virtio_console"), "--console", "virtio", "--cmdline", "input_wait=2", "--timeout", "60"}, input_);
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_NE(result.out.find("FAIL: no input arrived on receiveq0"), std::string::npos) << result.out;
}

}  // namespace
}  // namespace ember::test
