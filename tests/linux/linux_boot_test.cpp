// Tier 3: the project's own Linux kernel (scripts/build-guest-kernel.sh)
// under ember: the kernel starts, what ember handed it (command line, e820
// map, MP table) arrives intact, it brings up its second CPU through ember's
// LAPICs, and with the project's initramfs it reaches init and runs
// `ember run ... -- COMMAND` (linux_userspace_test.cpp).
#include <gtest/gtest.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "linux/linux_guest.h"
#include "support/run_process.h"

namespace ember::test {
namespace {

constexpr const char* kCmdline = kLinuxCmdline;

class LinuxBoot : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kvm_available()) << kNoKvm;
  }
  void TearDown() override {
    if (!disk_.empty()) std::filesystem::remove(disk_);
  }
  // A 16 MiB ext4 image holding /etc/ember-disk; removed after the test.
  const std::string& make_ext4_disk() {
    disk_ = make_ext4_image({{"etc/ember-disk", "written by the virtio-blk Linux test\n"}});
    return disk_;
  }
  // Boots vmlinux with a read-only disk as its root and the rng, virtio
  // attached by `transport`; ends with the kernel's panic (no init on it).
  static ProcessResult boot_from_disk(const std::string& image, const std::string& transport) {
    return run_ember({"run", "--kernel", std::string(EMBER_GUEST_KERNEL_DIR) + "/vmlinux", "--memory", "128M", "--disk",
                      image + ",ro", "--rng", "--virtio-transport", transport, "--timeout", "400", "--cmdline",
                      std::string(kCmdline) + " panic=-1 root=/dev/vda rootfstype=ext4 ro"});
  }

  std::string disk_;
};

// The project's kernel has no ACPI (tinyconfig): it reads the MP table and
// the virtio_mmio.device= announcements the same with ACPI tables present
// (the default) or not (--acpi off).
class LinuxBootAcpi : public LinuxBoot, public ::testing::WithParamInterface<const char*> {};

TEST_P(LinuxBootAcpi, PvhVmlinuxPrintsItsFirstConsoleLineWithEmbersBootData) {
  const auto result = run_ember({"run", "--kernel", std::string(EMBER_GUEST_KERNEL_DIR) + "/vmlinux", "--memory", "128M",
                                 "--cpus", "2", "--timeout", "40", "--acpi", GetParam(), "--cmdline", kCmdline});
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
INSTANTIATE_TEST_SUITE_P(Acpi, LinuxBootAcpi, ::testing::Values("on", "off"));

// The same kernel as a bzImage through the 64-bit boot protocol. Its
// decompressor runs for about two minutes on the nested development host
// (guest CPL-0 code is emulated there), seconds on hardware.
TEST_F(LinuxBoot, BzImageThroughThe64BitBootProtocolPrintsItsFirstConsoleLine) {
  BackgroundProcess ember{{EMBER_BINARY, "run", "--kernel", std::string(EMBER_GUEST_KERNEL_DIR) + "/bzImage", "--memory", "128M",
                           "--timeout", "400", "--cmdline", kCmdline}};
  // Stopped once the e820 map is printed: the rest of the boot is the
  // vmlinux tests' business, and would cost minutes here.
  (void)ember.wait_for_out("BIOS-e820: [mem 0x0000000000100000-0x0000000007ffffff] usable", 400);
  const auto result = ember.stop(SIGTERM);
  const auto& console = result.out;
  ASSERT_NE(console.find("Linux version 6.1"), std::string::npos) << "console:\n" << console << "\nstderr:\n" << result.err;
  EXPECT_NE(console.find(std::string("Command line: ") + kCmdline), std::string::npos) << console;
  EXPECT_NE(console.find("BIOS-e820: [mem 0x0000000000100000-0x0000000007ffffff] usable"), std::string::npos) << console;
}

// virtio-mmio as Linux sees it: the devices ember announces on the command
// line register at their addresses and IRQs (IOAPIC pins 16 and 17, level),
// virtio-blk reads the image's size and the kernel mounts the ext4 file
// system on it as its root, without any user space. The disk is read-only,
// so the image comes back unchanged.
TEST_F(LinuxBoot, KernelFindsVirtioBlkOverMmioAndMountsItsExt4Root) {
  const auto result = boot_from_disk(make_ext4_disk(), "mmio");
  const auto& console = result.out;
  EXPECT_NE(console.find("virtio_mmio.device=4K@0xd0000000:16 virtio_mmio.device=4K@0xd0001000:17"), std::string::npos)
      << console;
  EXPECT_NE(console.find("Registering device virtio-mmio.0 at 0xd0000000-0xd0000fff, IRQ 16."), std::string::npos) << console;
  EXPECT_NE(console.find("Registering device virtio-mmio.1 at 0xd0001000-0xd0001fff, IRQ 17."), std::string::npos) << console;
  EXPECT_NE(console.find("virtio_blk virtio0: [vda] 32768 512-byte logical blocks"), std::string::npos) << console;
  EXPECT_NE(console.find("EXT4-fs (vda): mounted filesystem"), std::string::npos) << console;
  EXPECT_NE(console.find("VFS: Mounted root (ext4 filesystem) readonly"), std::string::npos) << console << result.err;
}

// Linux writing through virtio-blk, seen from the host without guest user
// space: mounting its root read-write, ext4 commits the superblock at once
// with its mount count and time (ext4_setup_super, ext4_commit_super: a
// synchronous write, with FUA when the device offers a write cache), so
// after the run the host's dumpe2fs reads what the kernel wrote into the
// image through ember.
TEST_F(LinuxBoot, KernelMountsItsExt4RootReadWriteAndTheHostReadsTheSuperblockItWrote) {
  const std::string image = make_ext4_disk();
  const auto superblock = [&image] { return run_process({"/usr/sbin/dumpe2fs", "-h", image}).out; };
  const auto before = superblock();
  ASSERT_NE(before.find("Mount count:              0"), std::string::npos) << before;
  ASSERT_NE(before.find("Last mount time:          n/a"), std::string::npos) << before;

  const auto result = run_ember({"run", "--kernel", std::string(EMBER_GUEST_KERNEL_DIR) + "/vmlinux", "--memory", "128M", "--disk",
                                 image, "--timeout", "400", "--cmdline",
                                 std::string(kCmdline) + " panic=-1 root=/dev/vda rootfstype=ext4 rw"});
  const auto& console = result.out;
  ASSERT_NE(console.find("VFS: Mounted root (ext4 filesystem) on device"), std::string::npos)
      << "no read-write root mount; console:\n" << console << "\nstderr:\n" << result.err;
  const auto after = superblock();
  EXPECT_NE(after.find("Mount count:              1"), std::string::npos) << after;
  EXPECT_EQ(after.find("Last mount time:          n/a"), std::string::npos) << after;
  EXPECT_NE(after.find("Filesystem state:         clean"), std::string::npos) << "the journal keeps it consistent:\n" << after;
}

// virtio-pci as Linux sees it: its PCI scan through configuration mechanism
// #1 finds the host bridge and both functions with their BARs where ember
// put them; the drivers set up MSI-X (the functions have no INTx pin, so
// every completion the mount waits for arrived as an MSI) and the kernel
// mounts its root from the disk. Nothing is announced on the command line.
TEST_F(LinuxBoot, KernelFindsVirtioBlkOverPciWithMsixAndMountsItsExt4Root) {
  const auto result = boot_from_disk(make_ext4_disk(), "pci");
  const auto& console = result.out;
  EXPECT_EQ(console.find("virtio_mmio.device="), std::string::npos) << console;
  EXPECT_NE(console.find("PCI: Using configuration type 1 for base access"), std::string::npos) << console;
  EXPECT_NE(console.find("pci 0000:00:00.0: [8086:0d57] type 00 class 0x060000"), std::string::npos) << console;
  EXPECT_NE(console.find("pci 0000:00:01.0: [1af4:1042] type 00 class 0x018000"), std::string::npos) << console;
  EXPECT_NE(console.find("pci 0000:00:01.0: BAR 0 [mem 0xe0008000-0xe000ffff 64bit]"), std::string::npos) << console;
  EXPECT_NE(console.find("pci 0000:00:02.0: [1af4:1044]"), std::string::npos) << console;
  EXPECT_EQ(console.find("probe of virtio"), std::string::npos) << "a driver failed to probe:\n" << console;
  EXPECT_NE(console.find("virtio_blk virtio0: [vda] 32768 512-byte logical blocks"), std::string::npos) << console;
  EXPECT_NE(console.find("VFS: Mounted root (ext4 filesystem) readonly"), std::string::npos) << console << result.err;
}

#ifdef EMBER_GUEST_OF_KERNEL_DIR
// --describe-machine dtb, as Linux sees it: the kernel built with CONFIG_OF
// (images/linux-guest-of.config) takes its CPUs, IOAPIC and virtio-mmio
// devices from the device tree in its setup_data chain. There is no MP table
// and nothing on the command line, yet both CPUs come up and virtio-blk,
// interrupting through the IOAPIC pin the tree names, gives it its root.
// A bzImage (setup_data is boot_params'), so this includes the two-minute
// decompression of the nested development host.
TEST_F(LinuxBoot, DeviceTreeKernelFindsCpusIoapicAndVirtioMmioInTheTreeAndMountsItsExt4Root) {
  const auto result = run_ember({"run", "--kernel", std::string(EMBER_GUEST_OF_KERNEL_DIR) + "/bzImage", "--describe-machine", "dtb",
                                 "--cpus", "2", "--memory", "128M", "--disk", make_ext4_disk() + ",ro", "--rng", "--timeout", "900",
                                 "--cmdline", std::string(kCmdline) + " panic=-1 root=/dev/vda rootfstype=ext4 ro"});
  const auto& console = result.out;
  ASSERT_NE(console.find("Linux version 6.1"), std::string::npos) << "console:\n" << console << "\nstderr:\n" << result.err;
  EXPECT_EQ(console.find("virtio_mmio.device="), std::string::npos) << console;
  EXPECT_EQ(console.find("Intel MultiProcessor Specification"), std::string::npos) << "the kernel found an MP table:\n" << console;
  // The tree's IOAPIC: arch/x86/kernel/devicetree.c numbers it 1 (the MP
  // table says 2, see above).
  EXPECT_NE(console.find("IOAPIC[0]: apic_id 1, version 17, address 0xfec00000, GSI 0-23"), std::string::npos) << console;
  EXPECT_NE(console.find("smpboot: Allowing 2 CPUs, 0 hotplug CPUs"), std::string::npos) << console;
  EXPECT_NE(console.find("smp: Brought up 1 node, 2 CPUs"), std::string::npos) << console;
  EXPECT_NE(console.find("virtio_blk virtio0: [vda] 32768 512-byte logical blocks"), std::string::npos) << console;
  EXPECT_NE(console.find("VFS: Mounted root (ext4 filesystem) readonly"), std::string::npos) << console << result.err;
}
#endif

}  // namespace
}  // namespace ember::test
