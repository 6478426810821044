// `ember run --dump-dtb PATH` builds the whole machine (so it needs KVM) and
// writes its device tree instead of running the guest; dtc reads it back.
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "support/run_process.h"

namespace ember::test {
namespace {

TEST(DeviceTreeDump, DtcReadsTheMachineAndTheGuestNeverRuns) {
  if (!kvm_available()) GTEST_SKIP() << "/dev/kvm cannot be opened on this host";
  const std::string dtb = ::testing::TempDir() + "ember-machine.dtb";
  const std::string disk = ::testing::TempDir() + "ember-dtb-disk.img";
  { std::ofstream{disk} << std::string(4096, '\0'); }
  const auto dumped = run_ember({"run", "--kernel", guest_program("hello"), "--cpus", "2", "--memory", "64M", "--disk",
                                 disk + ",ro", "--rng", "--dump-dtb", dtb});
  ASSERT_EQ(dumped.exit_code, 0) << dumped.err;
  EXPECT_EQ(dumped.out, "") << "the guest must not run";

  const auto dts = run_process({"/usr/bin/dtc", "-I", "dtb", "-O", "dts", dtb});
  ASSERT_EQ(dts.exit_code, 0) << "dtc could not read it: " << dts.err;
  for (const char* expected : {"cpu@0 {", "cpu@1 {", "reg = <0x00 0x00 0x00 0x4000000>;",  // 64 MiB of RAM at 0
                               "compatible = \"intel,ce4100-ioapic\";", "ember,apic-id = <0x02>;",
                               "virtio_mmio@d0000000 {", "interrupts = <0x10 0x01>;",  // the disk: pin 16, level high
                               "virtio_mmio@d0001000 {", "interrupts = <0x11 0x01>;",  // rng: pin 17
                               "serial@i3f8 {"}) {
    EXPECT_NE(dts.out.find(expected), std::string::npos) << expected << " missing from:\n" << dts.out;
  }
  EXPECT_EQ(dts.out.find("cpu@2"), std::string::npos);
  EXPECT_EQ(dts.out.find("virtio_mmio@d0002000"), std::string::npos);
  ::unlink(dtb.c_str());
  ::unlink(disk.c_str());
}

TEST(DeviceTreeDump, UnwritablePathIsAHostError) {
  if (!kvm_available()) GTEST_SKIP() << "/dev/kvm cannot be opened on this host";
  const auto dumped = run_ember({"run", "--kernel", guest_program("hello"), "--dump-dtb", "/nonexistent/dir/machine.dtb"});
  EXPECT_EQ(dumped.exit_code, 1);
  EXPECT_NE(dumped.err.find("cannot write the device tree to '/nonexistent/dir/machine.dtb'"), std::string::npos) << dumped.err;
}

}  // namespace
}  // namespace ember::test
