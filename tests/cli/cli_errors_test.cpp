// The CLI's promises for bad input (README, "Exit codes"): one clear message on
// stderr, exit 1 (host) or 2 (usage), and no guest started. None of these
// reach /dev/kvm, so they run on any host.
#include <elf.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <csignal>
#include <fstream>
#include <thread>
#include <string>

#include "support/run_process.h"

namespace ember::test {
namespace {

std::string scratch_file(const std::string& name, const std::string& contents) {
  const std::string path = ::testing::TempDir() + "ember_cli_" + name;
  std::ofstream(path, std::ios::binary) << contents;
  return path;
}

// Exactly one line on stderr, naming the problem.
void expect_one_clear_line(const ProcessResult& result, const std::string& needle) {
  EXPECT_NE(result.err.find(needle), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty()) << "no guest output expected: " << result.out;
  EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
}

TEST(CliErrors, MultibootHeaderWithBadChecksumExits1) {
  // Magic and flags, then a checksum that does not sum to zero.
  std::string image(64, '\0');
  const uint32_t header[3] = {0x1badb002, 0x00010000, 0x12345678};
  image.replace(16, sizeof header, reinterpret_cast<const char*>(header), sizeof header);
  const auto path = scratch_file("bad_multiboot", image);
  const auto result = run_ember({"run", "--kernel", path});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "has a multiboot header at offset 0x10 with a bad checksum");
}

TEST(CliErrors, MissingModuleFileExits1) {
  const auto kernel = scratch_file("module_kernel", std::string(64, '\0'));
  const auto result = run_ember({"run", "--kernel", kernel, "--module", "/nonexistent/mod args"});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "module '/nonexistent/mod' does not exist");
}

TEST(CliErrors, MissingKernelFileExits1) {
  const auto result = run_ember({"run", "--kernel", "/nonexistent/kernel"});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "kernel '/nonexistent/kernel' does not exist");
}

TEST(CliErrors, DirectoryAsKernelExits1) {
  const auto result = run_ember({"run", "--kernel", "/tmp"});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "kernel '/tmp' is a directory");
}

TEST(CliErrors, EmptyKernelExits1) {
  const auto path = scratch_file("empty", "");
  const auto result = run_ember({"run", "--kernel", path});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "is empty");
}

TEST(CliErrors, UnreadableKernelExits1) {
  const auto path = scratch_file("unreadable", "x");
  chmod(path.c_str(), 0);
  // Root reads any file, so as root run ember as nobody (util-linux setpriv).
  const auto result = geteuid() != 0 ? run_ember({"run", "--kernel", path})
                                     : run_process({"/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                                    EMBER_BINARY, "run", "--kernel", path});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "cannot be opened");
}

// The first page of a bzImage: a boot sector and a 2.15 setup header for a
// 64-bit kernel, whose syssize promises 64 KiB of protected-mode code.
std::string bzimage_head() {
  std::string image(0x1000, '\0');
  image[0x1f1] = 1;                 // setup_sects
  image[0x1fe] = '\x55';
  image[0x1ff] = '\xaa';
  image[0x201] = 0x6a;              // header length
  image.replace(0x202, 4, "HdrS");
  image[0x206] = 0x0f;              // version 2.15
  image[0x207] = 0x02;
  image[0x211] = 1;                 // LOADED_HIGH
  image[0x236] = 1;                 // XLF_KERNEL_64
  image[0x1f5] = 0x10;              // syssize = 0x1000 paragraphs = 64 KiB
  return image;
}

TEST(CliErrors, TruncatedBzImageExits1) {
  // A bzImage cut off after its setup header: the header promises more.
  const auto path = scratch_file("truncated_bzimage", bzimage_head());
  const auto result = run_ember({"run", "--kernel", path});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "is truncated");
}

TEST(CliErrors, GarbageKernelExits1) {
  const auto path = scratch_file("garbage", std::string(4096, 'z'));
  const auto result = run_ember({"run", "--kernel", path});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "is neither a Linux bzImage");
}

TEST(CliErrors, MissingInitrdExits1) {
  const auto kernel = scratch_file("kernel_for_initrd", std::string(4096, 'z'));
  const auto result = run_ember({"run", "--kernel", kernel, "--initrd", "/nonexistent/initrd"});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "initrd '/nonexistent/initrd' does not exist");
}

TEST(CliErrors, KernelLargerThanRamExits1) {
  const auto path = scratch_file("huge", std::string(5 << 20, 'z'));
  const auto result = run_ember({"run", "--kernel", path, "--memory", "4M"});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "larger than the guest's 4 MiB of RAM");
}

TEST(CliErrors, MemoryLargerThanTheHostExits1) {
  const auto kernel = scratch_file("kernel_for_memory", std::string(4096, 'z'));
  const auto result = run_ember({"run", "--kernel", kernel, "--memory", "1T"});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "is more than this host's");
}

TEST(CliErrors, UnwritableConsoleFileExits1) {
  // The console file is opened only after the kernel loaded, so use a real ELF.
  const auto result = run_ember({"run", "--kernel", guest_program("hello"), "--console",
                                 "file:/nonexistent/dir/console.log"});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "console file '/nonexistent/dir/console.log' cannot be opened");
}

// A FIFO where a file is expected is refused at once, never waited on
// (issue 18, item 8): opening one blocks until the other end opens.
std::string scratch_fifo(const std::string& name) {
  const std::string path = ::testing::TempDir() + "ember_cli_fifo_" + name;
  ::unlink(path.c_str());
  EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0);
  return path;
}

TEST(CliErrors, FifoAsKernelOrInitrdOrFwCfgFileIsRefusedWithoutWaiting) {
  const auto fifo = scratch_fifo("inputs");
  auto result = run_ember({"run", "--kernel", fifo});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "kernel '" + fifo + "' is not a regular file");
  result = run_ember({"run", "--kernel", guest_program("hello"), "--initrd", fifo});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "initrd '" + fifo + "' is not a regular file");
  result = run_ember({"run", "--kernel", guest_program("hello"), "--fw-cfg", "name=opt/x,file=" + fifo});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "fw_cfg file '" + fifo + "' is not a regular file");
}

TEST(CliErrors, FifoAsDiskIsRefusedWithoutWaiting) {
  const auto fifo = scratch_fifo("disk");
  for (const std::string options : {"", ",ro"}) {
    const auto result = run_ember({"run", "--kernel", guest_program("hello"), "--disk", fifo + options});
    EXPECT_EQ(result.exit_code, 1);
    expect_one_clear_line(result, "disk '" + fifo + "' is not a regular file or a block device");
  }
}

TEST(CliErrors, FifoWithoutAReaderAsConsoleIsRefusedWithoutWaiting) {
  const auto fifo = scratch_fifo("console");
  const auto result = run_ember({"run", "--kernel", guest_program("hello"), "--console", "file:" + fifo});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "is a FIFO with no reader");
}

// --console file:X where X is a --disk image: refused before anything is
// truncated (issue 18, item 10), so the disk keeps every byte.
TEST(CliErrors, ConsoleFileThatIsADiskIsRefusedAndTheDiskKeepsItsBytes) {
  const std::string contents(4096, 'd');
  const auto disk = scratch_file("console_is_disk.img", contents);
  const auto result = run_ember({"run", "--kernel", guest_program("hello"), "--disk", disk, "--console", "file:" + disk});
  EXPECT_EQ(result.exit_code, 1);
  expect_one_clear_line(result, "is disk '" + disk + "'; ember will not overwrite its own input");
  struct stat info {};
  ASSERT_EQ(::stat(disk.c_str(), &info), 0);
  EXPECT_EQ(info.st_size, 4096);
}

// Issue 18, item 8: a huge file that is no kernel is refused from its head,
// not read whole first. Address space limited to 1 GiB: reading the 2 GiB
// (sparse) file into memory would fail with an internal error instead.
TEST(CliErrors, AHugeFileThatIsNoKernelIsRefusedWithoutReadingItAll) {
  const auto path = scratch_file("huge_sparse", "not a kernel");
  ASSERT_EQ(::truncate(path.c_str(), 2ll << 30), 0);
  const std::string command = "ulimit -v 1048576; exec " + std::string(EMBER_BINARY) + " run --kernel " + path + " --memory 3G";
  const auto result = run_process({"/bin/sh", "-c", command});
  ::unlink(path.c_str());
  EXPECT_EQ(result.exit_code, 1) << result.err;
  expect_one_clear_line(result, "is neither a Linux bzImage");
}

// An ELF kernel with one PT_LOAD segment of `gib` GiB at guest physical
// 4 GiB (file offset 4 KiB), entered there: the file is sparse, so it is
// huge on disk in name only.
std::string huge_elf_kernel(const std::string& name, long long gib) {
  std::string image(0x1000, '\0');
  Elf64_Ehdr header{};
  std::memcpy(header.e_ident, ELFMAG, SELFMAG);
  header.e_ident[EI_CLASS] = ELFCLASS64;
  header.e_ident[EI_DATA] = ELFDATA2LSB;
  header.e_ident[EI_VERSION] = EV_CURRENT;
  header.e_type = ET_EXEC;
  header.e_machine = EM_X86_64;
  header.e_version = EV_CURRENT;
  header.e_entry = 1ull << 32;
  header.e_phoff = sizeof header;
  header.e_ehsize = sizeof header;
  header.e_phentsize = sizeof(Elf64_Phdr);
  header.e_phnum = 1;
  Elf64_Phdr segment{};
  segment.p_type = PT_LOAD;
  segment.p_offset = 0x1000;
  segment.p_vaddr = segment.p_paddr = 1ull << 32;
  segment.p_filesz = segment.p_memsz = static_cast<uint64_t>(gib) << 30;
  std::memcpy(image.data(), &header, sizeof header);
  std::memcpy(image.data() + sizeof header, &segment, sizeof segment);
  const auto path = scratch_file(name, image);
  EXPECT_EQ(::truncate(path.c_str(), 0x1000 + (gib << 30)), 0);
  return path;
}

// Issue 18, item 8: a stop signal during start-up stops ember at once.
// Here start-up reads a huge (sparse) ELF segment into guest RAM, which
// takes seconds; SIGTERM 300 ms in ends it within a second, with a stop's
// status and a line saying the guest never ran. Before, the stop signals
// were blocked from the start and ember read on.
TEST(CliErrors, AStopSignalDuringStartUpStopsEmberAtOnce) {
  // A kernel segment as large as the host lets ember have RAM for (it
  // refuses more guest RAM than the host has; the first 3 GiB are below the
  // MMIO hole): 8 GiB here, less on a small CI machine. ember reads it
  // straight into guest RAM, during start-up.
  const long long host_gib = static_cast<long long>(::sysconf(_SC_PHYS_PAGES)) * ::sysconf(_SC_PAGESIZE) >> 30;
  const long long kernel_gib = std::clamp(host_gib / 2 - 1, 1ll, 8ll);
  if (kernel_gib + 3 > host_gib) GTEST_SKIP() << "needs " << kernel_gib + 3 << " GiB of host RAM for the guest's address space";
  const auto path = huge_elf_kernel("huge_elf", kernel_gib);
  BackgroundProcess ember{{EMBER_BINARY, "run", "--kernel", path, "--memory", std::to_string(kernel_gib + 3) + "G"}};
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const auto signalled = std::chrono::steady_clock::now();
  const auto result = ember.stop(SIGTERM);
  const auto took = std::chrono::steady_clock::now() - signalled;
  ::unlink(path.c_str());
  EXPECT_EQ(result.exit_code, 128 + SIGTERM) << result.err;
  EXPECT_LT(took, std::chrono::seconds(1)) << "ember read on after SIGTERM";
  expect_one_clear_line(result, "stopped by SIGTERM during start-up; the guest never ran");
}

// Usage errors: exit 2, the message, and a pointer to --help.
void expect_usage_error(const std::vector<std::string>& args, const std::string& needle) {
  const auto result = run_ember(args);
  EXPECT_EQ(result.exit_code, 2) << result.err;
  EXPECT_NE(result.err.find(needle), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("ember --help"), std::string::npos) << result.err;
  EXPECT_TRUE(result.out.empty());
}

TEST(CliErrors, MemoryZeroExits2) { expect_usage_error({"run", "--kernel", "k", "--memory", "0"}, "--memory must be greater than zero"); }
TEST(CliErrors, UnknownFlagExits2) { expect_usage_error({"run", "--kernel", "k", "--bogus"}, "unknown option '--bogus'"); }
TEST(CliErrors, DuplicateFlagExits2) { expect_usage_error({"run", "--kernel", "a", "--kernel", "b"}, "--kernel is given more than once"); }
TEST(CliErrors, MalformedSizeExits2) { expect_usage_error({"run", "--kernel", "k", "--memory", "lots"}, "is not a size"); }
TEST(CliErrors, ZeroCpusExits2) { expect_usage_error({"run", "--kernel", "k", "--cpus", "0"}, "--cpus must be at least 1"); }
TEST(CliErrors, NoKernelExits2) { expect_usage_error({"run"}, "needs --kernel"); }

TEST(CliHelp, HelpDocumentsTheExitCodes) {
  const auto result = run_ember({"--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* code : {"124", "125", "host setup error", "usage error", "exit port"}) {
    EXPECT_NE(result.out.find(code), std::string::npos) << code;
  }
}

TEST(CliHelp, RunHelpDocumentsEveryOption) {
  const auto result = run_ember({"run", "--help"});
  EXPECT_EQ(result.exit_code, 0);
  for (const char* option : {"--kernel", "--initrd", "--cmdline", "--memory", "--cpus", "--console", "--timeout"}) {
    EXPECT_NE(result.out.find(option), std::string::npos) << option;
  }
}

}  // namespace
}  // namespace ember::test
