// Tier 3, a host directory in the guest over virtio-fs (issue 19):
// `ember run --share DIR[,tag=TAG][,ro] -- COMMAND` starts virtiofsd for DIR,
// the project's initramfs mounts it at /mnt/TAG, and COMMAND reads and
// writes the host's files. Needs Linux user space, root (virtiofsd's
// sandbox) and a vhost-user backend: it runs in the nested tier.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "base/file_descriptor.h"
#include "linux/linux_guest.h"
#include "linux/linux_userspace_fixture.h"
#include "support/run_process.h"

namespace ember::test {
namespace {

class LinuxVirtiofs : public LinuxUserspaceFixture {
 protected:
  void SetUp() override {
    LinuxUserspaceFixture::SetUp();
    if (!set_up()) return;
    ASSERT_EQ(::geteuid(), 0u) << "virtiofsd's namespace sandbox needs root";
    root_ = scratch_directory("share-test");
    shared_ = root_ + "/shared";
    std::filesystem::create_directories(shared_);
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

// The virtiofsd ember started for a share: ember's child is its keeper
// (ember-keeper), whose only child it is. With its namespace sandbox
// virtiofsd forks: the parent waits while its child serves. Both, parent first.
std::vector<pid_t> virtiofsd_of(pid_t ember) {
  std::vector<pid_t> found;
  const auto children_named = [](pid_t parent, const char* name) {
    std::vector<pid_t> pids;
    std::istringstream out{run_process({"/usr/bin/pgrep", "-x", name, "-P", std::to_string(parent)}).out};
    for (pid_t pid = 0; out >> pid;) pids.push_back(pid);
    return pids;
  };
  for (const pid_t keeper : children_named(ember, "ember-keeper")) {
    for (const pid_t parent : children_named(keeper, "virtiofsd")) {
      found.push_back(parent);
      for (const pid_t child : children_named(parent, "virtiofsd")) found.push_back(child);
    }
  }
  return found;
}

// A guest that keeps using its share, in the background.
std::vector<std::string> busy_guest(const std::vector<std::string>& share_options) {
  std::vector<std::string> argv{EMBER_BINARY, "run", "--kernel", guest_vmlinux(), "--initrd", EMBER_GUEST_INITRAMFS, "--memory",
                                "256M", "--timeout", "300", "--cmdline", kLinuxCmdline};
  argv.insert(argv.end(), share_options.begin(), share_options.end());
  argv.insert(argv.end(), {"--", "sh", "-c", "echo guest-ready; while true; do ls /mnt/src > /dev/null; sleep 0.2; done"});
  return argv;
}

// Ends, within `seconds`, by itself, with a failure other than --timeout's.
void expect_ended_by_the_backend(const ProcessResult& result, std::chrono::steady_clock::time_point since, int seconds) {
  EXPECT_LT(std::chrono::steady_clock::now() - since, std::chrono::seconds(seconds)) << "ember hung with its backend";
  EXPECT_NE(result.exit_code, 0) << result.err;
  EXPECT_NE(result.exit_code, 124) << "only --timeout ended it\n" << result.err;
  EXPECT_NE(result.err.find("virtio-fs 'src'"), std::string::npos) << result.err;
}

TEST_F(LinuxVirtiofs, AKilledBackendEndsTheRunWithAReportNamingIt) {
  // The guest waits on the share; its virtiofsd is killed.
  BackgroundProcess ember{busy_guest({"--share", shared_ + ",tag=src"})};
  ASSERT_TRUE(ember.wait_for_out("guest-ready", 300)) << ember.out() << ember.err();
  const auto virtiofsd = virtiofsd_of(ember.pid());
  ASSERT_EQ(virtiofsd.size(), 2u) << "ember's virtiofsd and its sandboxed child, under the keeper";
  for (const pid_t pid : virtiofsd) ::kill(pid, SIGKILL);
  const auto started = std::chrono::steady_clock::now();
  const auto result = ember.wait();
  expect_ended_by_the_backend(result, started, 60);
}

// A stopped backend keeps its socket open and answers nothing: ember's
// liveness check (GET_FEATURES every 5 s, 20 s to answer) ends the run, and
// the keeper still gets rid of the stopped virtiofsd (SIGKILL).
TEST_F(LinuxVirtiofs, AStoppedBackendEndsTheRunAndIsGoneAfterIt) {
  BackgroundProcess ember{busy_guest({"--share", shared_ + ",tag=src"})};
  ASSERT_TRUE(ember.wait_for_out("guest-ready", 300)) << ember.out() << ember.err();
  const auto virtiofsd = virtiofsd_of(ember.pid());
  ASSERT_EQ(virtiofsd.size(), 2u) << "ember's virtiofsd and its sandboxed child, under the keeper";
  for (const pid_t pid : virtiofsd) ASSERT_EQ(::kill(pid, SIGSTOP), 0);
  const auto started = std::chrono::steady_clock::now();
  const auto result = ember.wait();
  expect_ended_by_the_backend(result, started, 90);
  EXPECT_NE(result.err.find("did not answer GET_FEATURES within 20 s"), std::string::npos) << result.err;
  // The keeper's SIGKILL ends the parent; its child goes with it
  // (virtiofsd sets PR_SET_PDEATHSIG in the child).
  for (const pid_t pid : virtiofsd) {
    bool gone = false;
    for (int i = 0; i < 100 && !gone; ++i) {
      gone = ::kill(pid, 0) != 0;
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(gone) << "the stopped virtiofsd " << pid << " outlived ember";
  }
}

// Between ember and a virtiofsd the test started: forwards vhost-user
// messages both ways, descriptors included, and once told to, answers
// ember's next GET_FEATURES (its liveness check) with 3 bytes of payload.
class CorruptingProxy {
 public:
  CorruptingProxy(const std::string& listen_path, std::string backend_path) : backend_path_{std::move(backend_path)} {
    listener_ = FileDescriptor{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, listen_path.c_str(), sizeof address.sun_path - 1);
    EXPECT_EQ(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    EXPECT_EQ(::listen(listener_.get(), 1), 0);
    thread_ = std::thread{[this] { run(); }};
  }
  ~CorruptingProxy() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    if (ember_.valid()) ::shutdown(ember_.get(), SHUT_RDWR);
    thread_.join();
  }
  void corrupt_the_next_features_reply() { corrupt_ = true; }
  bool corrupted() const { return corrupted_; }

 private:
  // One message from `from` to `to`: the header (with any descriptors), then its payload.
  static bool forward(int from, int to, bool corrupt_features, bool& corrupted) {
    uint8_t header[12];
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * 8)];
    iovec data{header, sizeof header};
    msghdr message{};
    message.msg_iov = &data;
    message.msg_iovlen = 1;
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    if (::recvmsg(from, &message, MSG_WAITALL | MSG_CMSG_CLOEXEC) != sizeof header) return false;
    uint32_t request, size;
    std::memcpy(&request, header, 4);
    std::memcpy(&size, header + 8, 4);
    std::vector<uint8_t> payload(size);
    if (size > 0 && ::recv(from, payload.data(), size, MSG_WAITALL) != static_cast<ssize_t>(size)) return false;
    if (corrupt_features && request == 1 && !corrupted) {  // VHOST_USER_GET_FEATURES
      payload.resize(3);
      const uint32_t three = 3;
      std::memcpy(header + 8, &three, 4);
      corrupted = true;
    }
    if (message.msg_controllen == 0) message.msg_control = nullptr;
    if (::sendmsg(to, &message, MSG_NOSIGNAL) != sizeof header) return false;
    for (cmsghdr* part = CMSG_FIRSTHDR(&message); part != nullptr; part = CMSG_NXTHDR(&message, part)) {
      const size_t count = (part->cmsg_len - CMSG_LEN(0)) / sizeof(int);
      for (size_t i = 0; i < count; ++i) {
        int fd;
        std::memcpy(&fd, CMSG_DATA(part) + i * sizeof(int), sizeof fd);
        ::close(fd);  // sent on: the backend has its own copy
      }
    }
    return payload.empty() || ::send(to, payload.data(), payload.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(payload.size());
  }

  void run() {
    ember_ = FileDescriptor{::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC)};
    if (!ember_.valid()) return;
    FileDescriptor backend{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, backend_path_.c_str(), sizeof address.sun_path - 1);
    if (::connect(backend.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return;
    for (;;) {
      pollfd ready[] = {{ember_.get(), POLLIN, 0}, {backend.get(), POLLIN, 0}};
      if (::poll(ready, 2, -1) < 0) return;
      if (ready[0].revents != 0 && !forward(ember_.get(), backend.get(), false, corrupted_)) return;
      if (ready[1].revents != 0 && !forward(backend.get(), ember_.get(), corrupt_, corrupted_)) return;
    }
  }

  std::string       backend_path_;
  FileDescriptor    listener_, ember_;
  std::atomic<bool> corrupt_{false};
  bool              corrupted_ = false;  // the proxy thread's; read after ember is done
  std::thread       thread_;
};

// A backend that answers ember's liveness check with a malformed reply
// while the guest runs: ember ends the run, naming it and the fault.
TEST_F(LinuxVirtiofs, AMalformedReplyWhileTheGuestRunsEndsTheRunWithAReport) {
  const std::string backend_socket = root_ + "/virtiofsd.sock", proxy_socket = root_ + "/proxy.sock";
  BackgroundProcess virtiofsd{{"/usr/lib/qemu/virtiofsd", "--socket-path=" + backend_socket, "-o", "source=" + shared_, "-o",
                               "cache=auto", "-o", "sandbox=namespace", "-o", "log_level=err"}};
  for (int i = 0; i < 500 && !std::filesystem::exists(backend_socket); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_TRUE(std::filesystem::exists(backend_socket)) << virtiofsd.err();
  std::optional<CorruptingProxy> proxy;
  proxy.emplace(proxy_socket, backend_socket);
  BackgroundProcess ember{busy_guest({"--fs", "socket=" + proxy_socket + ",tag=src"})};
  ASSERT_TRUE(ember.wait_for_out("guest-ready", 300)) << ember.out() << ember.err();
  proxy->corrupt_the_next_features_reply();
  const auto started = std::chrono::steady_clock::now();
  const auto result = ember.wait();
  expect_ended_by_the_backend(result, started, 60);
  EXPECT_NE(result.err.find("GET_FEATURES carries 3 bytes, not 8"), std::string::npos) << result.err;
  proxy.reset();
}

// ember's process filter stays what it is without shares: with one, it
// still refuses sendmsg (the courier sends), kill and wait4 (the keeper
// stops virtiofsd). Checked on the main thread, under that filter alone.
TEST_F(LinuxVirtiofs, WithAShareTheProcessFilterStillRefusesSendmsgKillAndWait4) {
  for (const std::string call : {"sendmsg", "kill", "wait4"}) {
    SCOPED_TRACE(call);
    const std::string command = "EMBER_SECCOMP_SELF_TEST=main:" + call + " " + EMBER_BINARY + " run --kernel " + guest_vmlinux() +
                                " --initrd " + EMBER_GUEST_INITRAMFS + " --memory 256M --timeout 60 --share " + shared_ +
                                ",tag=src";
    const auto result = run_process({"/bin/sh", "-c", command});
    EXPECT_EQ(result.exit_code, 122) << result.out << result.err;
    EXPECT_NE(result.err.find("(" + call + ") is outside its filter"), std::string::npos) << result.err;
  }
}

}  // namespace
}  // namespace ember::test
