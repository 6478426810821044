// Tier 3: the project's own Linux kernel (scripts/build-guest-kernel.sh)
// under ember: the kernel starts, what ember handed it (command line, e820
// map, MP table) arrives intact, and it brings up its second CPU through
// ember's LAPICs. There is no initramfs yet, so each run ends at its
// --timeout; the checks are on the console. Reaching init is the Linux
// issue's work.
#include <gtest/gtest.h>

#include <string>

#include "support/run_process.h"

namespace ember::test {
namespace {

// Options that keep the kernel away from what the nested development host's
// KVM cannot emulate (../shared/HOST-NOTES.md); harmless on bare metal.
constexpr const char* kCmdline =
    "console=ttyS0 earlyprintk=serial noxsave clearcpuid=popcnt,smap,smep 8250.nr_uarts=1";

class LinuxBoot : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!kvm_available()) GTEST_SKIP() << "/dev/kvm cannot be opened on this host";
  }
};

TEST_F(LinuxBoot, PvhVmlinuxPrintsItsFirstConsoleLineWithEmbersBootData) {
  const auto result = run_ember({"run", "--kernel", std::string(EMBER_GUEST_KERNEL_DIR) + "/vmlinux", "--memory", "128M",
                                 "--cpus", "2", "--timeout", "40", "--cmdline", kCmdline});
  const auto& console = result.out;
  ASSERT_NE(console.find("Linux version 6.1"), std::string::npos) << "console:\n" << console << "\nstderr:\n" << result.err;
  EXPECT_NE(console.find(std::string("Command line: ") + kCmdline), std::string::npos) << console;
  EXPECT_NE(console.find("BIOS-e820: [mem 0x0000000000000000-0x000000000009fbff] usable"), std::string::npos) << console;
  EXPECT_NE(console.find("BIOS-e820: [mem 0x0000000000100000-0x0000000007ffffff] usable"), std::string::npos) << console;
  EXPECT_NE(console.find("Hypervisor detected: KVM"), std::string::npos) << "ember's CPUID profile reached the guest";
  // ember's MP table: both CPUs and the IOAPIC, and Linux switches to it.
  EXPECT_NE(console.find("Processors: 2"), std::string::npos) << console;
  EXPECT_NE(console.find("IOAPIC[0]: apic_id 2, version 17, address 0xfec00000, GSI 0-23"), std::string::npos) << console;
  // INIT/SIPI through ember's LAPICs brings the second CPU up; this needs the
  // emulation fallback on hosts whose KVM stops at the int3 self-test.
  EXPECT_NE(console.find("smp: Brought up 1 node, 2 CPUs"), std::string::npos) << console;
}

// The same kernel as a bzImage through the 64-bit boot protocol. Its
// decompressor runs for about two minutes on the nested development host
// (guest CPL-0 code is emulated there), seconds on hardware.
TEST_F(LinuxBoot, BzImageThroughThe64BitBootProtocolPrintsItsFirstConsoleLine) {
  const auto result = run_ember({"run", "--kernel", std::string(EMBER_GUEST_KERNEL_DIR) + "/bzImage", "--memory", "128M",
                                 "--timeout", "400", "--cmdline", kCmdline});
  const auto& console = result.out;
  ASSERT_NE(console.find("Linux version 6.1"), std::string::npos) << "console:\n" << console << "\nstderr:\n" << result.err;
  EXPECT_NE(console.find(std::string("Command line: ") + kCmdline), std::string::npos) << console;
  EXPECT_NE(console.find("BIOS-e820: [mem 0x0000000000100000-0x0000000007ffffff] usable"), std::string::npos) << console;
}

}  // namespace
}  // namespace ember::test
