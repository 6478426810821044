#include "console/console_output.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>

namespace ember {
namespace {

// A guest's last bytes, written while the machine is being stopped (a
// signal, --timeout), reach the console when there is room for them.
TEST(FdConsoleOutput, BytesWrittenAsTheMachineStopsAreKeptWhenTheyFit) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  {
    FdConsoleOutput console{fds[1]};
    console.start();
    console.release();
    const std::array<uint8_t, 3> bytes{'e', 'n', 'd'};
    console.write(bytes);
    const auto lost = console.finish(std::chrono::milliseconds{2000});
    EXPECT_EQ(lost.total(), 0u);
  }
  std::array<char, 8> read_back{};
  EXPECT_EQ(::read(fds[0], read_back.data(), read_back.size()), 3);
  EXPECT_EQ(std::string(read_back.data(), 3), "end");
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace ember
