// virtio devices driven by guest programs with minimal drivers (kvm tier),
// and the data-integrity test (tests/HOSTILE-INPUTS.md): SIGKILL mid-run loses no block
// whose FLUSH the guest saw acknowledged.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/run_process.h"

extern char** environ;

namespace ember::test {
namespace {

using namespace std::chrono_literals;

class VirtioPrograms : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kvm_available()) << kNoKvm;
  }
  void TearDown() override { ::unlink(image_.c_str()); }

  // An image of `sectors` sectors whose sector k is filled with the byte k.
  void make_image(uint64_t sectors) {
    char path[] = "/tmp/ember-virtio-XXXXXX";
    const int fd = ::mkstemp(path);
    ASSERT_GE(fd, 0);
    for (uint64_t k = 0; k < sectors; ++k) {
      const std::vector<uint8_t> sector(512, static_cast<uint8_t>(k));
      ASSERT_EQ(::write(fd, sector.data(), sector.size()), 512);
    }
    ::close(fd);
    image_ = path;
  }
  std::vector<uint8_t> image_bytes() const {
    std::ifstream in{image_, std::ios::binary};
    return {std::istreambuf_iterator<char>{in}, {}};
  }
  // Runs virtio_blk_sequence on a fresh image and sends `signal` once the
  // guest has reported 200 acknowledged flushes, well before its end.
  ProcessResult signal_mid_sequence(int signal) {
    make_image(kSequenceSectors);
    BackgroundProcess ember{{EMBER_BINARY, "run", "--kernel", guest_program("virtio_blk_sequence"), "--disk", image_, "--timeout", "300"}};
    const bool enough = ember.wait_for_out("flushed 200\n", 120);
    ProcessResult result = ember.stop(signal);
    EXPECT_TRUE(enough) << "the guest never reported 200 flushes:\n" << result.out;
    return result;
  }
  // virtio_blk_sequence's last complete "flushed N" line.
  static uint64_t last_flushed(const std::string& out) {
    uint64_t last = 0;
    const std::regex line{"flushed ([0-9]+)\n"};
    for (auto it = std::sregex_iterator(out.begin(), out.end(), line); it != std::sregex_iterator(); ++it) {
      last = std::stoull((*it)[1]);
    }
    return last;
  }
  static constexpr uint64_t kSequenceSectors = 4096;
  // Sectors 0..last, which the guest reported flushed, each hold their own
  // number in their first and last eight bytes.
  void expect_sectors_hold_their_numbers(uint64_t last) const {
    ASSERT_LT(last + 1, kSequenceSectors) << "the workload finished before the signal; the test proves nothing";
    const auto bytes = image_bytes();
    for (uint64_t i = 0; i <= last; ++i) {
      uint64_t first_word, last_word;
      std::memcpy(&first_word, bytes.data() + 512 * i, 8);
      std::memcpy(&last_word, bytes.data() + 512 * i + 504, 8);
      ASSERT_EQ(first_word, i) << "sector " << i << " was acknowledged as flushed but is not on disk";
      ASSERT_EQ(last_word, i) << "sector " << i << " is torn";
    }
  }

  std::string image_;
};

TEST_F(VirtioPrograms, BlockWriteFlushReadBackAndLevelInterrupt) {
  make_image(64);
  const auto result = run_ember({"run", "--kernel", guest_program("virtio_blk"), "--disk", image_, "--cmdline", "sectors=64",
                                 "--timeout", "60"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("virtio-blk: GET_ID"), std::string::npos) << result.out;
  const auto bytes = image_bytes();
  ASSERT_EQ(bytes.size(), 64u * 512);
  EXPECT_EQ(bytes[0], 0);
  EXPECT_EQ(bytes[512], 0xA1) << "the guest's write reached the image";
  EXPECT_EQ(bytes[3 * 512 + 511], 0xA3);
  EXPECT_EQ(bytes[4 * 512], 4);
}

TEST_F(VirtioPrograms, ReadOnlyDiskRefusesWritesAndStaysUnchanged) {
  make_image(64);
  const auto before = image_bytes();
  const auto result = run_ember({"run", "--kernel", guest_program("virtio_blk"), "--disk", image_ + ",ro", "--cmdline",
                                 "sectors=64 readonly=1", "--timeout", "60"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("virtio-blk read-only:"), std::string::npos) << result.out;
  EXPECT_EQ(image_bytes(), before);
}

TEST_F(VirtioPrograms, DiskInUseByAnotherEmberIsRefusedBeforeTheGuestStarts) {
  make_image(64);
  pid_t pid;
  std::vector<std::string> args{EMBER_BINARY, "run", "--kernel", guest_program("spin"), "--disk", image_, "--console", "none",
                                "--timeout", "30"};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  // Wait until the first ember holds its lock (F_OFD_GETLK reports the
  // conflicting lock) before starting the second: started any earlier, the
  // second could win the lock and the first be the one refused.
  bool held = false;
  for (auto until = std::chrono::steady_clock::now() + 20s; !held && std::chrono::steady_clock::now() < until;) {
    const int fd = ::open(image_.c_str(), O_RDONLY | O_CLOEXEC);
    struct flock probe {};
    probe.l_type = F_WRLCK;
    probe.l_whence = SEEK_SET;
    held = fd >= 0 && ::fcntl(fd, F_OFD_GETLK, &probe) == 0 && probe.l_type != F_UNLCK;
    if (fd >= 0) ::close(fd);
    if (!held) std::this_thread::sleep_for(10ms);
  }
  // The second must say the disk is in use and exit 1 without starting its guest.
  const ProcessResult second = held ? run_ember({"run", "--kernel", guest_program("hello"), "--disk", image_}) : ProcessResult{};
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ASSERT_TRUE(held) << "the first ember never locked the disk";
  EXPECT_EQ(second.exit_code, 1) << second.out << second.err;
  EXPECT_NE(second.err.find("is in use by another process"), std::string::npos) << second.err;
  EXPECT_EQ(second.out.find("Hello"), std::string::npos) << "the guest must not start";
}

// The same disk over virtio-pci: the guest's own PCI driver finds the
// function, sets up MSI-X and counts one interrupt per completion.
TEST_F(VirtioPrograms, BlockOverPciWithMsixInterrupts) {
  make_image(64);
  const auto result = run_ember({"run", "--kernel", guest_program("virtio_pci_blk"), "--disk", image_, "--virtio-transport", "pci",
                                 "--cmdline", "sectors=64", "--timeout", "60"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("virtio-pci blk: write, flush, read back ok; MSI-X interrupts 3"), std::string::npos) << result.out;
  const auto bytes = image_bytes();
  ASSERT_EQ(bytes.size(), 64u * 512);
  EXPECT_EQ(bytes[512], 0xB1) << "the guest's write reached the image";
  EXPECT_EQ(bytes[3 * 512 + 511], 0xB3);
  EXPECT_EQ(bytes[4 * 512], 4);
}

// A guest that moves the function's BAR before using it: the queue
// notifiers (KVM ioeventfds) follow the BAR, so 400 notifies at the new
// address cost no more exits than at the old one. Had they stayed behind,
// each notify would be an MMIO exit to ember (still served, but slowly).
TEST_F(VirtioPrograms, PciQueueNotifiersFollowABarTheGuestMoves) {
  make_image(64);
  const auto mmio_exits = [this](const std::string& move_to) {
    const auto result = run_ember({"run", "--kernel", guest_program("virtio_pci_moved_bar"), "--disk", image_, "--virtio-transport",
                                   "pci", "--report", "json", "--cmdline", "requests=400 move_to=" + move_to, "--timeout", "60"});
    EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
    EXPECT_NE(result.out.find("reads done: 400"), std::string::npos) << result.out;
    const auto at = result.err.find("\"mmio\":");
    return at == std::string::npos ? 0 : std::stoi(result.err.substr(at + 7));
  };
  const int in_place = mmio_exits("0");
  const int moved = mmio_exits("0xe0100000");
  EXPECT_LT(in_place, 400) << "notifies at ember's own BAR address exit to ember";
  EXPECT_LT(moved, in_place + 40) << "notifies at the moved BAR exit to ember (" << moved << " MMIO exits against " << in_place << ")";
}

TEST_F(VirtioPrograms, SigkillLosesNoBlockWhoseFlushWasAcknowledged) {
  const ProcessResult killed = signal_mid_sequence(SIGKILL);
  ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << "ember ended before it was killed";
  expect_sectors_hold_their_numbers(last_flushed(killed.out));
}

// SIGTERM mid-run: ember stops the guest, lets the block worker finish the
// request in flight and fdatasyncs the image, then exits 128 + SIGTERM with
// nothing on stderr but its own stop line and where the VCPU was. Every
// acknowledged sector is there.
TEST_F(VirtioPrograms, SigtermStopsCleanlyAndKeepsEveryAcknowledgedBlock) {
  const ProcessResult stopped = signal_mid_sequence(SIGTERM);
  EXPECT_EQ(stopped.exit_code, 128 + SIGTERM) << stopped.err;
  const std::string stop_line = "ember: error: stopped by signal Terminated. Where its VCPUs were:\nVCPU 0: ";
  EXPECT_EQ(stopped.err.substr(0, stop_line.size()), stop_line) << stopped.err;
  EXPECT_EQ(std::count(stopped.err.begin(), stopped.err.end(), '\n'), 2) << "no failed flush, no other complaint:\n" << stopped.err;
  expect_sectors_hold_their_numbers(last_flushed(stopped.out));
}

}  // namespace
}  // namespace ember::test
