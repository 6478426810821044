// Tier 3, a host directory in the guest over virtio-fs (issue 19):
// `ember run --share DIR[,tag=TAG][,ro] -- COMMAND` starts virtiofsd for DIR,
// the project's initramfs mounts it at /mnt/TAG, and COMMAND reads and
// writes the host's files. Needs Linux user space, root (virtiofsd's
// sandbox) and a vhost-user backend: it runs in the nested tier.
#include <signal.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "linux/linux_guest.h"
#include "support/run_process.h"

namespace ember::test {
namespace {

class LinuxVirtiofs : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kvm_available()) << kNoKvm;
    if (!syscall_limitation().empty()) GTEST_SKIP() << "host limitation: " << syscall_limitation();
    ASSERT_EQ(::geteuid(), 0u) << "virtiofsd's namespace sandbox needs root";
    char directory[] = "/tmp/ember-share-test-XXXXXX";
    ASSERT_NE(::mkdtemp(directory), nullptr);
    root_ = directory;
    shared_ = root_ + "/shared";
    std::filesystem::create_directories(shared_);
  }
  void TearDown() override {
    if (!root_.empty()) std::filesystem::remove_all(root_);
  }

  // The project's kernel and initramfs with `options`, running `command`.
  ProcessResult run(const std::string& command, std::vector<std::string> options, const std::string& memory = "256M") {
    std::vector<std::string> args{"run",      "--kernel", guest_vmlinux(), "--initrd", EMBER_GUEST_INITRAMFS, "--memory", memory,
                                  "--timeout", "600",     "--cmdline",     kLinuxCmdline};
    args.insert(args.end(), options.begin(), options.end());
    args.insert(args.end(), {"--", "sh", "-c", command});
    auto result = run_ember(args);
    std::erase(result.out, '\r');
    return result;
  }
  static std::string md5_of(const std::string& path) {
    const auto summed = run_process({"/usr/bin/md5sum", path});
    return summed.out.substr(0, 32);
  }
  void write_file(const std::string& path, const std::string& text) { std::ofstream{path, std::ios::binary} << text; }
  static std::string read_file(const std::string& path) {
    std::ifstream in{path, std::ios::binary};
    return {std::istreambuf_iterator<char>{in}, {}};
  }

  std::string root_, shared_;
};

TEST_F(LinuxVirtiofs, TheGuestReadsAHostFileAndWritesOneTheHostReads) {
  std::string data(100000, '\0');
  std::mt19937 random{42};
  std::generate(data.begin(), data.end(), [&] { return static_cast<char>(random()); });
  write_file(shared_ + "/from-host", data);
  const auto result = run("md5sum /mnt/src/from-host && echo written-by-the-guest > /mnt/src/from-guest && sync",
                          {"--share", shared_ + ",tag=src"});
  const std::string context = "console:\n" + result.out + "\nstderr:\n" + result.err;
  ASSERT_EQ(result.exit_code, 0) << context;
  EXPECT_NE(result.out.find(md5_of(shared_ + "/from-host") + "  /mnt/src/from-host"), std::string::npos) << context;
  EXPECT_EQ(read_file(shared_ + "/from-guest"), "written-by-the-guest\n") << context;
}

// The same device on virtio-pci (MSI-X) instead of the default virtio-mmio.
TEST_F(LinuxVirtiofs, TheShareWorksOverVirtioPciToo) {
  write_file(shared_ + "/from-host", "over-pci\n");
  const auto result = run("cat /mnt/src/from-host && echo back > /mnt/src/from-guest && sync",
                          {"--virtio-transport", "pci", "--share", shared_ + ",tag=src"});
  const std::string context = "console:\n" + result.out + "\nstderr:\n" + result.err;
  ASSERT_EQ(result.exit_code, 0) << context;
  EXPECT_NE(result.out.find("over-pci"), std::string::npos) << context;
  EXPECT_EQ(read_file(shared_ + "/from-guest"), "back\n") << context;
}

// --fs: a virtiofsd the user started, listening on a socket path.
TEST_F(LinuxVirtiofs, FsAttachesABackendTheUserStarted) {
  write_file(shared_ + "/from-host", "user-started-backend\n");
  const std::string socket = root_ + "/fs.sock";
  BackgroundProcess virtiofsd{{"/usr/lib/qemu/virtiofsd", "--socket-path=" + socket, "-o", "source=" + shared_, "-o",
                               "cache=auto", "-o", "sandbox=namespace", "-o", "log_level=err"}};
  for (int i = 0; i < 500 && !std::filesystem::exists(socket); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(std::filesystem::exists(socket)) << virtiofsd.err();
  const auto result = run("cat /mnt/data/from-host", {"--fs", "socket=" + socket + ",tag=data"});
  const std::string context = "console:\n" + result.out + "\nstderr:\n" + result.err;
  ASSERT_EQ(result.exit_code, 0) << context;
  EXPECT_NE(result.out.find("user-started-backend"), std::string::npos) << context;
}

TEST_F(LinuxVirtiofs, AReadOnlyShareRefusesWrites) {
  write_file(shared_ + "/existing", "unchanged\n");
  const auto result = run("cat /mnt/src/existing; if echo x > /mnt/src/new || echo y >> /mnt/src/existing; then exit 0; else exit 3; fi",
                          {"--share", shared_ + ",tag=src,ro"});
  const std::string context = "console:\n" + result.out + "\nstderr:\n" + result.err;
  EXPECT_EQ(result.exit_code, 3) << "a write succeeded\n" << context;
  EXPECT_NE(result.out.find("unchanged"), std::string::npos) << "reading still works\n" << context;
  EXPECT_FALSE(std::filesystem::exists(shared_ + "/new"));
  EXPECT_EQ(read_file(shared_ + "/existing"), "unchanged\n");
}

TEST_F(LinuxVirtiofs, TenThousandSmallFilesListCorrectly) {
  for (int i = 0; i < 10000; ++i) write_file(shared_ + "/f" + std::to_string(i), std::to_string(i));
  const auto result = run("ls /mnt/src | wc -l; cat /mnt/src/f9999; echo", {"--share", shared_ + ",tag=src"});
  const std::string context = "stderr:\n" + result.err;
  ASSERT_EQ(result.exit_code, 0) << context;
  EXPECT_NE(result.out.find("\n10000\n9999\n"), std::string::npos) << result.out.substr(result.out.size() > 2000 ? result.out.size() - 2000 : 0);
}

TEST_F(LinuxVirtiofs, A256MiBFilesChecksumMatchesBothWays) {
  ASSERT_EQ(run_process({"/usr/bin/dd", "if=/dev/urandom", "of=" + shared_ + "/big", "bs=1M", "count=256", "status=none"}).exit_code, 0);
  const auto result = run("md5sum /mnt/src/big && dd if=/dev/urandom of=/mnt/src/back bs=1M count=256 2>/dev/null && "
                          "md5sum /mnt/src/back && sync",
                          {"--share", shared_ + ",tag=src"}, "512M");
  const std::string context = "console:\n" + result.out.substr(result.out.size() > 3000 ? result.out.size() - 3000 : 0) +
                              "\nstderr:\n" + result.err;
  ASSERT_EQ(result.exit_code, 0) << context;
  EXPECT_NE(result.out.find(md5_of(shared_ + "/big") + "  /mnt/src/big"), std::string::npos) << "host to guest\n" << context;
  EXPECT_NE(result.out.find(md5_of(shared_ + "/back") + "  /mnt/src/back"), std::string::npos) << "guest to host\n" << context;
  EXPECT_EQ(std::filesystem::file_size(shared_ + "/back"), 256u << 20);
}

TEST_F(LinuxVirtiofs, NeitherDotDotNorSymlinksLeadOutOfTheShare) {
  write_file(root_ + "/secret", "host-secret\n");
  std::filesystem::create_symlink("../secret", shared_ + "/relative");
  std::filesystem::create_symlink(root_ + "/secret", shared_ + "/absolute");
  const auto result = run("cat /mnt/src/relative /mnt/src/absolute /mnt/src/../secret /mnt/src/../../secret 2>&1;"
                          " ls -a /mnt/src/..; echo done",
                          {"--share", shared_ + ",tag=src"});
  const std::string context = "console:\n" + result.out + "\nstderr:\n" + result.err;
  ASSERT_EQ(result.exit_code, 0) << context;
  EXPECT_NE(result.out.find("done"), std::string::npos) << context;
  EXPECT_EQ(result.out.find("host-secret"), std::string::npos) << "the guest read a file outside the share\n" << context;
}

// --root-share: the host's own programs and libraries, on the guest's kernel.
TEST_F(LinuxVirtiofs, RootShareRunsTheHostsProgramsOnTheGuestsKernel) {
  // The guest kernel's release, from its configuration's header
  // ("# Linux/x86 6.1.192 Kernel Configuration").
  const std::string config = read_file(std::string(EMBER_GUEST_KERNEL_DIR) + "/.config");
  const auto named = config.find("# Linux/x86 ");
  ASSERT_NE(named, std::string::npos);
  const std::string release = config.substr(named + 12, config.find(' ', named + 12) - (named + 12)) + "\n";
  const auto host_gcc = run_process({"/bin/sh", "-c", "command -v gcc"});
  ASSERT_EQ(host_gcc.exit_code, 0) << "the test needs gcc on the host (scripts/setup.sh installs it)";
  const std::string marker = "/etc/ember-root-share-test-" + std::to_string(::getpid());
  const auto result = run("uname -r; command -v gcc; echo guest > " + marker + " && cat " + marker, {"--root-share"}, "512M");
  const std::string context = "console:\n" + result.out + "\nstderr:\n" + result.err;
  ASSERT_EQ(result.exit_code, 0) << context;
  EXPECT_NE(result.out.find("\n" + release), std::string::npos) << "uname -r names the guest's kernel (" << release << ")\n" << context;
  EXPECT_NE(result.out.find("\n" + host_gcc.out), std::string::npos) << "the host's gcc\n" << context;
  EXPECT_NE(result.out.find("\nguest\n"), std::string::npos) << "the root is writable in the guest\n" << context;
  EXPECT_FALSE(std::filesystem::exists(marker)) << "a guest write reached the host's /etc";
  EXPECT_LT(std::count(result.err.begin(), result.err.end(), '\n'), 3) << "quiet on stderr:\n" << result.err;
}

TEST_F(LinuxVirtiofs, AKilledBackendEndsTheRunWithAReportNamingIt) {
  // The guest waits on the share; its virtiofsd (ember's child) is killed.
  BackgroundProcess ember{{EMBER_BINARY, "run", "--kernel", guest_vmlinux(), "--initrd", EMBER_GUEST_INITRAMFS, "--memory",
                           "256M", "--timeout", "300", "--cmdline", kLinuxCmdline, "--share", shared_ + ",tag=src", "--", "sh",
                           "-c", "echo guest-ready; while true; do ls /mnt/src > /dev/null; sleep 0.2; done"}};
  ASSERT_TRUE(ember.wait_for_out("guest-ready", 300)) << ember.out() << ember.err();
  const auto children = run_process({"/usr/bin/pgrep", "-P", std::to_string(ember.pid())});
  ASSERT_EQ(children.exit_code, 0) << "no virtiofsd child of ember";
  for (std::istringstream pids{children.out}; ;) {
    pid_t pid = 0;
    if (!(pids >> pid)) break;
    ::kill(pid, SIGKILL);
  }
  const auto started = std::chrono::steady_clock::now();
  const auto result = ember.wait();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(60)) << "ember hung after its backend died";
  EXPECT_NE(result.exit_code, 0) << result.err;
  EXPECT_NE(result.exit_code, 124) << "only --timeout ended it\n" << result.err;
  EXPECT_NE(result.err.find("virtio-fs 'src'"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace ember::test
