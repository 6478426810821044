// Tier 3, Linux user space end to end: `ember run ... -- COMMAND` boots the
// project's kernel with its initramfs, whose init runs COMMAND and hands its
// status to ember through the exit port (images/initramfs). Every run here
// is confined as a CI user would run it: seccomp on (the default) and, as
// root, `--user nobody`.
//
// kvm_pvm (the development host's KVM) cannot run a stock kernel's user
// space (SYSCALL from CPL 3 stays at CPL 3; tests/guests/user_syscall.c
// shows it), so these skip there, naming that limitation; the README's test
// command runs them again under stock kvm_amd in the nested VM, where they
// must pass.
#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/file_descriptor.h"
#include "linux/linux_guest.h"
#include "linux/linux_userspace_fixture.h"
#include "support/network_namespace.h"
#include "support/run_process.h"
#include "support/sockets.h"

namespace ember::test {
namespace {

// The guest's serial console turns each "\n" into "\r\n" (the tty's
// onlcr, as on any terminal); the tests compare lines without the "\r".
ProcessResult without_carriage_returns(ProcessResult result) {
  std::erase(result.out, '\r');
  return result;
}

// The statuses ember gives (README, "Exit codes").
constexpr int kTimeout = 124, kGuestPanic = 126;

class LinuxUserspace : public LinuxUserspaceFixture {
 protected:
  void TearDown() override {
    for (const auto& path : scratch_) std::filesystem::remove(path);
    LinuxUserspaceFixture::TearDown();
  }

  // `ember run` of the project's vmlinux and initramfs with `options`, then
  // `-- command`. The whole run is bounded by --timeout.
  static std::vector<std::string> ember_args(const std::vector<std::string>& command, std::vector<std::string> options = {},
                                             const std::string& timeout = "600") {
    std::vector<std::string> args{"run",     "--kernel", guest_vmlinux(), "--initrd", EMBER_GUEST_INITRAMFS, "--memory", "128M",
                                  "--timeout", timeout};
    if (::geteuid() == 0) args.insert(args.end(), {"--user", "65534:65534"});
    if (std::find(options.begin(), options.end(), "--cmdline") == options.end()) options.insert(options.end(), {"--cmdline", kLinuxCmdline});
    args.insert(args.end(), options.begin(), options.end());
    if (!command.empty()) args.push_back("--");
    args.insert(args.end(), command.begin(), command.end());
    return args;
  }
  // The same as a whole command line, for a BackgroundProcess.
  static std::vector<std::string> ember_command(const std::vector<std::string>& command, std::vector<std::string> options = {},
                                                const std::string& timeout = "600") {
    auto args = ember_args(command, std::move(options), timeout);
    args.insert(args.begin(), EMBER_BINARY);
    return args;
  }
  static ProcessResult run_shell(const std::string& script, std::vector<std::string> options = {}, const std::string& stdin_path = "/dev/null") {
    return without_carriage_returns(run_ember(ember_args({"sh", "-c", script}, std::move(options)), stdin_path));
  }

  // A raw disk image of `size` bytes, zero-filled, removed after the test.
  std::string make_disk(size_t size) {
    const std::string path = ::testing::TempDir() + "ember-linux-disk-" + std::to_string(::getpid()) + "-" +
                             std::to_string(scratch_.size()) + ".img";
    std::filesystem::remove(path);
    std::ofstream{path}.close();
    std::filesystem::resize_file(path, size);
    scratch_.push_back(path);
    return path;
  }
  static std::string read_file(const std::string& path, size_t offset, size_t length) {
    std::ifstream file{path, std::ios::binary};
    file.seekg(static_cast<std::streamoff>(offset));
    std::string data(length, '\0');
    file.read(data.data(), static_cast<std::streamsize>(length));
    data.resize(static_cast<size_t>(file.gcount()));
    return data;
  }

  std::vector<std::string> scratch_;
};

// ---- Status and lifecycle --------------------------------------------

// The counts on /proc/interrupts' line `name`, one per CPU.
std::vector<long> interrupt_counts(const std::string& text, const std::string& name, int cpus) {
  std::vector<long> counts;
  const auto at = text.find("\n" + name + ":");
  if (at == std::string::npos) return counts;
  std::istringstream line{text.substr(at + name.size() + 2, text.find('\n', at + 1) - at)};
  long count = 0;
  for (int cpu = 0; cpu < cpus && line >> count; ++cpu) counts.push_back(count);
  return counts;
}

class LinuxCpus : public LinuxUserspace, public ::testing::WithParamInterface<int> {};

TEST_P(LinuxCpus, NprocEqualsCpusAndEveryCpuTakesLapicTimerTicks) {
  const int cpus = GetParam();
  const auto result = run_shell("echo nproc=$(nproc); cat /proc/interrupts", {"--cpus", std::to_string(cpus)});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("nproc=" + std::to_string(cpus) + "\n"), std::string::npos) << result.out;
  // LOC counts each CPU's LAPIC timer interrupts (ember's userspace LAPIC).
  const auto ticks = interrupt_counts(result.out, "LOC", cpus);
  ASSERT_EQ(ticks.size(), static_cast<size_t>(cpus)) << result.out;
  for (int cpu = 0; cpu < cpus; ++cpu) EXPECT_GT(ticks[static_cast<size_t>(cpu)], 0) << "CPU " << cpu << ":\n" << result.out;
  // The console's interrupt (COM1, IRQ 4) through ember's IOAPIC.
  const auto console_irq = result.out.rfind('\n', result.out.find("ttyS0\n"));
  ASSERT_NE(console_irq, std::string::npos) << result.out;
  const std::string line = result.out.substr(console_irq, result.out.find('\n', console_irq + 1) - console_irq);
  EXPECT_NE(line.find("IO-APIC"), std::string::npos) << line;
  EXPECT_NE(line.find("4-edge"), std::string::npos) << line;
}

INSTANTIATE_TEST_SUITE_P(Cpus, LinuxCpus, ::testing::Values(1, 2, 4));

class LinuxExitStatus : public LinuxUserspace, public ::testing::WithParamInterface<int> {};

TEST_P(LinuxExitStatus, TheCommandsStatusIsEmbersStatus) {
  const int status = GetParam();
  const auto result = run_shell("echo running; exit " + std::to_string(status));
  EXPECT_EQ(result.exit_code, status) << result.out << result.err;
  EXPECT_NE(result.out.find("running\n"), std::string::npos) << result.out;
}

INSTANTIATE_TEST_SUITE_P(Statuses, LinuxExitStatus, ::testing::Values(0, 3, 255));

// The shell running the command dies of SIGKILL: 128 + 9, as a shell says.
TEST_F(LinuxUserspace, ACommandKilledByASignalGives128PlusTheSignal) {
  const auto result = run_shell("kill -KILL $$");
  EXPECT_EQ(result.exit_code, 128 + SIGKILL) << result.out << result.err;
}

// No init to run: the kernel panics ("No working init found") and says so
// through ember's pvpanic device before panic=-1 reboots it.
TEST_F(LinuxUserspace, AKernelPanicGivesItsOwnStatus) {
  const auto result = without_carriage_returns(
      run_ember(ember_args({}, {"--cmdline", std::string(kLinuxCmdline) + " panic=-1 rdinit=/no-such-init init=/no-such-init"})));
  EXPECT_EQ(result.exit_code, kGuestPanic) << result.out << result.err;
  EXPECT_NE(result.out.find("Kernel panic - not syncing"), std::string::npos) << result.out;
  EXPECT_NE(result.err.find("the guest kernel panicked"), std::string::npos) << result.err;
}

TEST_F(LinuxUserspace, TimeoutGives124WithWhereEachVcpuWas) {
  // Long enough for the boot under any KVM here; the command never ends.
  const auto result = without_carriage_returns(run_ember(ember_args({"sh", "-c", "echo guest-ready; sleep 100000"}, {"--cpus", "2"}, "150")));
  EXPECT_EQ(result.exit_code, kTimeout) << result.out << result.err;
  EXPECT_NE(result.out.find("guest-ready"), std::string::npos) << "the command was running:\n" << result.out << result.err;
  EXPECT_NE(result.err.find("VCPU 0: "), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("VCPU 1: "), std::string::npos) << result.err;
}

class LinuxSignal : public LinuxUserspace, public ::testing::WithParamInterface<int> {};

TEST_P(LinuxSignal, StopsEmberCleanlyWhileTheCommandRuns) {
  const int signal = GetParam();
  BackgroundProcess ember{ember_command({"sh", "-c", "echo guest-ready; sleep 100000"})};
  const bool ready = ember.wait_for_out("guest-ready", 600);
  const auto result = without_carriage_returns(ember.stop(signal));
  ASSERT_TRUE(ready) << result.out << result.err;
  EXPECT_EQ(result.exit_code, 128 + signal) << result.err;
  EXPECT_NE(result.err.find("stopped by signal"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("VCPU 0: "), std::string::npos) << result.err;
}

INSTANTIATE_TEST_SUITE_P(Signals, LinuxSignal, ::testing::Values(SIGTERM, SIGINT));

// ---- Storage ------------------------------------------------------------

// The guest's read-back may come from its page cache; the host's read of
// the image is what shows the write went through virtio-blk.
TEST_F(LinuxUserspace, VirtioBlkWriteSyncAndReadBackFromTheShellReachTheImage) {
  const std::string disk = make_disk(1 << 20);
  const auto result = run_shell(
      "printf ember-block-data > /tmp/data && dd if=/tmp/data of=/dev/vda bs=512 seek=8 conv=notrunc,sync && sync && "
      "echo read-back=$(dd if=/dev/vda bs=512 skip=8 count=1 2>/dev/null | head -c 16)",
      {"--disk", disk});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("read-back=ember-block-data"), std::string::npos) << result.out;
  EXPECT_EQ(read_file(disk, 8 * 512, 16), "ember-block-data");
}

// What the guest's sync returned for is in the image even when ember dies
// without a chance to write anything more: ember acknowledges a write or a
// FLUSH only after it is in the image. (SIGKILL leaves the host's page cache
// intact, so this cannot tell whether the FLUSH reached the disk itself;
// that rests on fdatasync, README.)
TEST_F(LinuxUserspace, SigkillAfterAnAcknowledgedSyncLosesNothing) {
  const std::string disk = make_disk(1 << 20);
  BackgroundProcess ember{ember_command({"sh", "-c", "seq 1 20000 > /tmp/data && dd if=/tmp/data of=/dev/vda bs=4096 conv=sync 2>/dev/null && "
                                        "sync && echo synced && sleep 100000"},
                           {"--disk", disk})};
  const bool synced = ember.wait_for_out("synced", 600);
  const auto result = without_carriage_returns(ember.stop(SIGKILL));
  ASSERT_TRUE(synced) << result.out << result.err;
  std::string expected;
  for (int i = 1; i <= 20000; ++i) expected += std::to_string(i) + "\n";
  EXPECT_TRUE(read_file(disk, 0, expected.size()) == expected) << "the image lost acknowledged data";
}

TEST_F(LinuxUserspace, AReadOnlyDiskRefusesWrites) {
  const std::string disk = make_disk(1 << 20);
  const auto result = run_shell("if echo overwrite | dd of=/dev/vda conv=fsync 2>/tmp/err; then echo write-accepted; "
                                "else echo write-refused; cat /tmp/err; fi",
                                {"--disk", disk + ",ro"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("write-refused"), std::string::npos) << result.out;
  EXPECT_EQ(read_file(disk, 0, 9), std::string(9, '\0')) << "the image changed";
}

// --disk PATH,overlay: two guests at once over one image, each writing its
// own marker; after dropping its page cache each reads its own back (from
// its overlay), and the image keeps its zeroes.
TEST_F(LinuxUserspace, OverlayDisksShareOneImageWithoutSeeingEachOthersWrites) {
  const std::string disk = make_disk(1 << 20);
  const auto guest = [&](const std::string& marker) {
    return ember_command({"sh", "-c", "printf " + marker + " > /tmp/data && dd if=/tmp/data of=/dev/vda bs=512 seek=8 "
                                      "conv=notrunc,sync 2>/dev/null && sync && echo 3 > /proc/sys/vm/drop_caches && "
                                      "echo read-back=$(dd if=/dev/vda bs=512 skip=8 count=1 2>/dev/null | head -c 14)"},
                         {"--disk", disk + ",overlay"});
  };
  BackgroundProcess first{guest("overlay-first-")}, second{guest("overlay-second")};
  const auto first_result = without_carriage_returns(first.wait());
  const auto second_result = without_carriage_returns(second.wait());
  EXPECT_EQ(first_result.exit_code, 0) << first_result.out << first_result.err;
  EXPECT_EQ(second_result.exit_code, 0) << second_result.out << second_result.err;
  EXPECT_NE(first_result.out.find("read-back=overlay-first-"), std::string::npos) << first_result.out;
  EXPECT_NE(second_result.out.find("read-back=overlay-second"), std::string::npos) << second_result.out;
  EXPECT_EQ(read_file(disk, 0, 1 << 20), std::string(1 << 20, '\0')) << "the image changed";
}

// ---- Network --------------------------------------------------------------

// TCP both ways and UDP over virtio-net and a TAP device in a network
// namespace of the test's: the guest connects to the host (7001), the host
// connects to the guest (7002), and a TFTP read (busybox's client) carries
// UDP both ways (7003).
TEST_F(LinuxUserspace, VirtioNetCarriesTcpBothWaysAndUdp) {
  if (const auto why = enter_network_namespace(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_EQ(make_tap(), "");
  const auto bound = [](int type, uint16_t port) {
    FileDescriptor fd{::socket(AF_INET, type | SOCK_CLOEXEC, 0)};
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = inet_addr(kHostAddress);
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return FileDescriptor{};
    if (type == SOCK_STREAM && ::listen(fd.get(), 1) != 0) return FileDescriptor{};
    return fd;
  };
  FileDescriptor tcp_listener = bound(SOCK_STREAM, 7001), udp = bound(SOCK_DGRAM, 7003);
  ASSERT_TRUE(tcp_listener.valid() && udp.valid());

  const std::string cmdline = std::string(kLinuxCmdline) + " ip=" + kGuestAddress + "::" + kHostAddress + ":255.255.255.0::eth0:off";
  const std::string script =
      "echo from-guest-tcp | nc " + std::string(kHostAddress) + " 7001; "
      "printf '#!/bin/sh\\nread line; echo guest-got:$line; echo guest-got:$line > /dev/console\\n' > /tmp/answer; "
      "chmod +x /tmp/answer; echo guest-listening; nc -l -p 7002 -e /tmp/answer; "
      "tftp -g -r ember-udp -l /tmp/udp " + kHostAddress + " 7003 && echo udp-got:$(cat /tmp/udp); echo test-done";
  BackgroundProcess ember{ember_command({"sh", "-c", script}, {"--net", std::string("tap=") + kTapName, "--cmdline", cmdline})};

  // 1. The guest connects; each side sends a line.
  ASSERT_TRUE(readable(tcp_listener.get(), 600)) << without_carriage_returns(ember.stop(SIGTERM)).out;
  FileDescriptor from_guest{::accept4(tcp_listener.get(), nullptr, nullptr, SOCK_CLOEXEC)};
  EXPECT_EQ(read_up_to(from_guest.get(), 15), "from-guest-tcp\n");
  ASSERT_EQ(::write(from_guest.get(), "from-host-tcp\n", 14), 14);
  from_guest = FileDescriptor{};

  // 2. This side connects to the guest's listener.
  ASSERT_TRUE(ember.wait_for_out("guest-listening", 120)) << without_carriage_returns(ember.stop(SIGTERM)).out;
  std::string answer;
  for (int attempt = 0; attempt < 60 && answer.empty(); ++attempt) {
    FileDescriptor to_guest{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_in guest{};
    guest.sin_family = AF_INET;
    guest.sin_port = htons(7002);
    guest.sin_addr.s_addr = inet_addr(kGuestAddress);
    if (::connect(to_guest.get(), reinterpret_cast<sockaddr*>(&guest), sizeof guest) == 0 &&
        ::write(to_guest.get(), "from-host-tcp-2\n", 16) == 16) {
      answer = read_up_to(to_guest.get(), 26);
    } else {
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
  }
  EXPECT_EQ(answer, "guest-got:from-host-tcp-2\n");

  // 3. UDP: a one-block TFTP read (RFC 1350): RRQ in, DATA out, ACK in.
  ASSERT_TRUE(readable(udp.get(), 120)) << without_carriage_returns(ember.stop(SIGTERM)).out;
  char request[512];
  sockaddr_in client{};
  socklen_t client_size = sizeof client;
  const ssize_t got = ::recvfrom(udp.get(), request, sizeof request, 0, reinterpret_cast<sockaddr*>(&client), &client_size);
  ASSERT_GE(got, 11);
  EXPECT_EQ(std::string(request + 2, 9), "ember-udp") << "a read request for the file the guest named";
  const char data[] = "\0\3\0\1from-host-udp";
  ASSERT_EQ(::sendto(udp.get(), data, sizeof data - 1, 0, reinterpret_cast<sockaddr*>(&client), client_size),
            static_cast<ssize_t>(sizeof data - 1));
  // busybox tftp sends its RRQ again when no DATA came within its first
  // timeout, which a slow nested VM can outlast: a repeated request is
  // skipped, as a TFTP server skips duplicates, and the ACK is what counts.
  std::string ack;
  for (int packet = 0; packet < 16 && ack.empty(); ++packet) {
    ASSERT_TRUE(readable(udp.get(), 60)) << "no ACK from the guest";
    char reply[516];
    const ssize_t size = ::recv(udp.get(), reply, sizeof reply, 0);
    ASSERT_GE(size, 2);
    if (reply[0] == 0 && reply[1] == 1) continue;  // the RRQ again (opcode 1)
    ack.assign(reply, static_cast<size_t>(size));
  }
  EXPECT_EQ(ack, std::string("\0\4\0\1", 4)) << "the guest acknowledged block 1";

  const auto result = [&] {
    (void)ember.wait_for_out("test-done", 120);
    return without_carriage_returns(ember.stop(SIGTERM));
  }();
  EXPECT_NE(result.out.find("from-host-tcp\n"), std::string::npos) << "nc printed the host's line:\n" << result.out;
  EXPECT_NE(result.out.find("guest-got:from-host-tcp-2"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("udp-got:from-host-udp"), std::string::npos) << result.out;
}

// ---- Other devices ----------------------------------------------------------

// vsock both ways through ember's Unix-socket bridge (README, "--vsock"),
// with the initramfs' ember-vsock on the guest side.
TEST_F(LinuxUserspace, VsockCarriesDataBothWaysThroughTheUnixSocketBridge) {
  const std::string path = ::testing::TempDir() + "ember-linux-vsock-" + std::to_string(::getpid());
  FileDescriptor listener{listen_unix(path + "_5000")};
  ASSERT_TRUE(listener.valid());
  BackgroundProcess ember{ember_command({"sh", "-c", "echo from-guest | ember-vsock connect 5000; echo guest-listening; "
                                        "echo guest-answer | ember-vsock listen 5001; echo test-done"},
                           {"--vsock", "3,socket=" + path})};

  ASSERT_TRUE(readable(listener.get(), 600)) << without_carriage_returns(ember.stop(SIGTERM)).out;
  FileDescriptor from_guest{::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC)};
  EXPECT_EQ(read_up_to(from_guest.get(), 11), "from-guest\n");
  ASSERT_EQ(::write(from_guest.get(), "from-host\n", 10), 10);
  from_guest = FileDescriptor{};

  ASSERT_TRUE(ember.wait_for_out("guest-listening", 120)) << without_carriage_returns(ember.stop(SIGTERM)).out;
  std::string answer;
  for (int attempt = 0; attempt < 60 && answer.empty(); ++attempt) {
    FileDescriptor to_guest{connect_unix(path)};
    if (to_guest.valid() && ::write(to_guest.get(), "CONNECT 5001\nfrom-host-2\n", 25) == 25) {
      std::string line;
      for (char c = 0; ::read(to_guest.get(), &c, 1) == 1 && c != '\n';) line += c;
      if (line.starts_with("OK ")) {
        ::shutdown(to_guest.get(), SHUT_WR);
        answer = read_up_to(to_guest.get(), 13);
        continue;
      }
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  EXPECT_EQ(answer, "guest-answer\n");
  const auto result = [&] {
    (void)ember.wait_for_out("test-done", 120);
    return without_carriage_returns(ember.stop(SIGTERM));
  }();
  EXPECT_NE(result.out.find("from-host\n"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("from-host-2\n"), std::string::npos) << result.out;
  ::unlink((path + "_5000").c_str());
  ::unlink(path.c_str());
}

// ember's stdin reaches the command through hvc0. The line is written once
// the command runs: a line that was ready in ember's stdin from the start
// never reached `read` (seen in the nested tier; whether the guest's hvc
// layer or ember loses input that arrives before the tty is first opened is
// not yet established), which is a known gap, not what this test is about.
TEST_F(LinuxUserspace, VirtioConsoleIsHvc0AndFeedsStdinToTheCommand) {
  const std::string input = ::testing::TempDir() + "ember-linux-stdin-" + std::to_string(::getpid());
  ::unlink(input.c_str());
  ASSERT_EQ(::mkfifo(input.c_str(), 0600), 0);
  scratch_.push_back(input);
  BackgroundProcess ember{ember_command({"sh", "-c", "echo guest-ready; read line; echo got:$line on $(readlink /proc/self/fd/0)"},
                                        {"--console", "virtio", "--cmdline", std::string("console=hvc0 ") + kLinuxOptions}),
                          input};
  const bool ready = ember.wait_for_out("guest-ready", 600);
  if (ready) {
    FileDescriptor writer{::open(input.c_str(), O_WRONLY | O_CLOEXEC)};
    ASSERT_EQ(::write(writer.get(), "line-from-stdin\n", 16), 16);
    (void)ember.wait_for_out("got:", 120);
  }
  const auto result = without_carriage_returns(ember.stop(SIGTERM));
  ASSERT_TRUE(ready) << result.out << result.err;
  EXPECT_NE(result.out.find("got:line-from-stdin on /dev/console"), std::string::npos) << result.out;
}

TEST_F(LinuxUserspace, VirtioPciDevicesServeUserSpace) {
  const std::string disk = make_disk(1 << 20);
  { std::fstream{disk, std::ios::in | std::ios::out | std::ios::binary} << "ember-pci-disk"; }
  const auto result = run_shell("echo disk=$(head -c 14 /dev/vda); echo rng=$(head -c 8 /dev/hwrng | wc -c)",
                                {"--virtio-transport", "pci", "--disk", disk + ",ro", "--rng"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("disk=ember-pci-disk"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("rng=8"), std::string::npos) << result.out;
}

// More virtio devices than virtio-mmio's 8 pins: over PCI, 12 disks, each
// found by the guest's PCI scan and each read back.
TEST_F(LinuxUserspace, TwelveVirtioPciDisksAreAllFound) {
  std::vector<std::string> options{"--virtio-transport", "pci"};
  for (int i = 0; i < 12; ++i) {
    const std::string disk = make_disk(1 << 20);
    { std::fstream{disk, std::ios::in | std::ios::out | std::ios::binary} << "disk-" << (i < 10 ? "0" : "") << i; }
    options.insert(options.end(), {"--disk", disk + ",ro"});
  }
  const auto result = run_shell("echo disks=$(ls /dev | grep -c '^vd[a-z]$'); for d in /dev/vd?; do head -c 7 $d; echo; done | sort | tr '\\n' ' '",
                                options);
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("disks=12"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("disk-00 disk-01 disk-02 disk-03 disk-04 disk-05 disk-06 disk-07 disk-08 disk-09 disk-10 disk-11 "),
            std::string::npos)
      << result.out;
}

#ifdef EMBER_GUEST_OF_KERNEL_DIR
// The device-tree kernel (images/linux-guest-of.config) with
// --describe-machine dtb: CPUs and virtio-mmio found in the tree, and user
// space uses them.
TEST_F(LinuxUserspace, DeviceTreeKernelReachesUserSpace) {
  const std::string disk = make_disk(1 << 20);
  { std::fstream{disk, std::ios::in | std::ios::out | std::ios::binary} << "ember-dtb-disk"; }
  auto args = ember_args({"sh", "-c", "echo nproc=$(nproc) disk=$(head -c 14 /dev/vda)"},
                         {"--describe-machine", "dtb", "--cpus", "2", "--disk", disk + ",ro"}, "900");
  args[2] = std::string(EMBER_GUEST_OF_KERNEL_DIR) + "/bzImage";
  const auto result = without_carriage_returns(run_ember(args));
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("nproc=2 disk=ember-dtb-disk"), std::string::npos) << result.out;
}
#endif

}  // namespace
}  // namespace ember::test
