// Tier 2: guests built for QEMU's PC conventions run under ember unchanged:
// a multiboot ELF program that reads fw_cfg, starts every CPU and reports
// through a QEMU-style debug-exit device (tests/guests/multiboot/).
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <string>

#include "support/run_process.h"

namespace ember::test {
namespace {

class MultibootSmp : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kvm_available()) << kNoKvm;
  }
};

TEST_P(MultibootSmp, BootsReadsFwCfgStartsEveryCpuAndExitsQemuStyle) {
  const int cpus = GetParam();
  const auto result = run_ember({"run", "--kernel", guest_program("multiboot_smp"), "--cpus", std::to_string(cpus), "--memory", "96M",
                                 "--exit-device", "qemu", "--cmdline", "alpha beta", "--timeout", "60"});
  // The program exits with value 10 + CPUs online; isa-debug-exit turns V into (V << 1) | 1.
  EXPECT_EQ(result.exit_code, ((10 + cpus) << 1) | 1) << result.out << result.err;
  EXPECT_NE(result.out.find("fw_cfg: " + std::to_string(cpus) + " CPUs, RAM 96 MiB"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("smp: " + std::to_string(cpus) + " CPUs online"), std::string::npos) << result.out;
  // The kernel's path comes first on its command line, as GRUB and QEMU put it.
  EXPECT_NE(result.out.find("cmdline \"" + guest_program("multiboot_smp") + " alpha beta\""), std::string::npos) << result.out;
}

INSTANTIATE_TEST_SUITE_P(Cpus, MultibootSmp, ::testing::Values(1, 2, 4));

// A multiboot kernel and its initrd are read whole before loading (unlike
// a bzImage's or an ELF's, read piece by piece into guest RAM): the initrd
// reaches the guest as module 0, every byte, under its file's name.
TEST(MultibootModules, TheInitrdArrivesWholeAsModuleZero) {
  ASSERT_TRUE(kvm_available()) << kNoKvm;
  std::string initrd(70000, '\0');
  uint32_t sum = 0;
  for (size_t i = 0; i < initrd.size(); ++i) {
    initrd[i] = static_cast<char>(i * 7 + i / 256);
    sum = sum * 31 + static_cast<uint8_t>(initrd[i]);
  }
  const std::string path = ::testing::TempDir() + "ember_multiboot_initrd_" + std::to_string(::getpid());
  std::ofstream(path, std::ios::binary) << initrd;
  const auto result = run_ember({"run", "--kernel", guest_program("multiboot_smp"), "--initrd", path, "--memory", "96M",
                                 "--exit-device", "qemu", "--timeout", "60"});
  ::unlink(path.c_str());
  EXPECT_EQ(result.exit_code, ((10 + 1) << 1) | 1) << result.out << result.err;
  EXPECT_NE(result.out.find("multiboot: module 0 \"" + path + "\" 70000 bytes, sum " + std::to_string(sum) + "\n"), std::string::npos)
      << result.out;
}

#ifdef EMBER_QEMU_BINARY
TEST(QemuConformance, QemuRunsTheSameProgramToTheSameStatusAndOutput) {
  // TCG, so it needs no /dev/kvm; QEMU's own firmware supplies fw_cfg and the
  // multiboot information. Only the line ember and QEMU share is compared.
  const auto qemu = run_process({EMBER_QEMU_BINARY, "-accel", "tcg", "-smp", "4", "-m", "96", "-kernel", guest_program("multiboot_smp"),
                                 "-append", "alpha beta", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-display", "none",
                                 "-serial", "stdio", "-no-reboot", "-nodefaults"});
  EXPECT_EQ(qemu.exit_code, ((10 + 4) << 1) | 1) << qemu.out << qemu.err;
  EXPECT_NE(qemu.out.find("fw_cfg: 4 CPUs, RAM 96 MiB\nsmp: 4 CPUs online\n"), std::string::npos) << qemu.out;
}

// The user-mode SYSCALL probe's success path, on QEMU's exact CPU model:
// what tests/kvm (and the Linux user-space tests) expect on hardware KVM.
TEST(QemuConformance, UserModeSyscallProbePassesOnAnExactCpu) {
  const auto qemu = run_process({EMBER_QEMU_BINARY, "-accel", "tcg", "-m", "64", "-kernel", guest_program("multiboot_user_syscall"),
                                 "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-display", "none", "-serial", "stdio",
                                 "-no-reboot", "-nodefaults"});
  EXPECT_EQ(qemu.exit_code, 1) << "status 0, QEMU-style: " << qemu.out << qemu.err;
  EXPECT_NE(qemu.out.find("SYSCALL entered CPL 0 twice, SYSRETQ returned to CPL 3"), std::string::npos) << qemu.out;
}
#endif

// QEMU's pc-testdev behind --test-device (devices/pc_testdev.h): the
// program checks the scratch ports and iomem and drives IOAPIC pins edge-
// and level-triggered through the IRQ line ports.
TEST(PcTestdev, ScratchPortsIomemAndIrqLinesEdgeAndLevel) {
  ASSERT_TRUE(kvm_available()) << kNoKvm;
  const auto result = run_ember({"run", "--kernel", guest_program("pc_testdev"), "--test-device", "--timeout", "60"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("pc-testdev: scratch ports, iomem, IRQ lines edge and level through the IOAPIC ok"), std::string::npos)
      << result.out;
}

TEST(PcTestdev, AbsentWithoutTheOption) {
  ASSERT_TRUE(kvm_available()) << kNoKvm;
  const auto result = run_ember({"run", "--kernel", guest_program("pc_testdev"), "--timeout", "60"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_NE(result.out.find("FAIL: scratch register: got 0xffffffff"), std::string::npos) << result.out;
}

// A multiboot image linked at 0x8000 (as real-mode test images are) loads
// into low RAM ember does not use for a 32-bit entry, and runs.
TEST(MultibootLowMemory, AnImageLinkedAt0x8000Runs) {
  ASSERT_TRUE(kvm_available()) << kNoKvm;
  const auto result = run_ember({"run", "--kernel", guest_program("multiboot_low"), "--timeout", "60"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_EQ(result.out, "multiboot image at 0x8000 ok\n") << result.err;
}

TEST(ExitDevice, EmberMeaningGivesTheByteItself) {
  ASSERT_TRUE(kvm_available()) << kNoKvm;
  // Without --exit-device qemu the same program's value 10 + 1 is the status.
  const auto result = run_ember({"run", "--kernel", guest_program("multiboot_smp"), "--timeout", "60"});
  EXPECT_EQ(result.exit_code, 11) << result.out << result.err;
}

TEST(MultibootErrors, InitrdAndModulesAreRefusedForNonMultibootKernels) {
  const auto result = run_ember({"run", "--kernel", guest_program("hello"), "--module", guest_program("hello")});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("--module is for multiboot kernels only"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace ember::test
