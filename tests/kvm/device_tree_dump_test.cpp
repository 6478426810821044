// `ember run --dump-dtb PATH` builds the whole machine (so it needs KVM) and
// writes its device tree instead of running the guest; dtc reads it back.
// `--describe-machine dtb` hands the guest that same tree in boot_params'
// setup_data chain instead of the MP table (tests/guests/setup_data.c looks).
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "support/run_process.h"

namespace ember::test {
namespace {

TEST(DeviceTreeDump, DtcReadsTheMachineAndTheGuestNeverRuns) {
  ASSERT_TRUE(kvm_available()) << kNoKvm;
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
  ASSERT_TRUE(kvm_available()) << kNoKvm;
  const auto dumped = run_ember({"run", "--kernel", guest_program("hello"), "--dump-dtb", "/nonexistent/dir/machine.dtb"});
  EXPECT_EQ(dumped.exit_code, 1);
  EXPECT_NE(dumped.err.find("cannot write the device tree to '/nonexistent/dir/machine.dtb'"), std::string::npos) << dumped.err;
}

std::string fnv1a_of_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  const std::vector<char> bytes{std::istreambuf_iterator<char>{in}, {}};
  uint32_t hash = 2166136261u;
  for (char byte : bytes) hash = (hash ^ static_cast<uint8_t>(byte)) * 16777619u;
  char text[64];
  std::snprintf(text, sizeof text, "length %zu fnv1a 0x%x", bytes.size(), hash);
  return text;
}

class DescribeMachine : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kvm_available()) << kNoKvm;
    std::ofstream{disk_} << std::string(4096, '\0');
  }
  void TearDown() override {
    ::unlink(disk_.c_str());
    ::unlink(dtb_.c_str());
  }
  std::vector<std::string> machine_args(const std::string& kernel) const {
    return {"run", "--kernel", guest_program(kernel), "--cpus", "2", "--memory", "64M", "--disk", disk_ + ",ro", "--rng"};
  }
  // Named after the test: ctest runs this suite's tests side by side.
  const std::string name_ = ::testing::UnitTest::GetInstance()->current_test_info()->name();
  const std::string disk_ = ::testing::TempDir() + "ember-describe-" + name_ + ".img";
  const std::string dtb_ = ::testing::TempDir() + "ember-describe-" + name_ + ".dtb";
};

TEST_F(DescribeMachine, DtbGivesTheGuestTheDumpedTreeAndNeitherMpTableNorAnnouncements) {
  auto dump = machine_args("setup_data");
  dump.insert(dump.end(), {"--describe-machine", "dtb", "--dump-dtb", dtb_});
  ASSERT_EQ(run_ember(dump).exit_code, 0);

  auto run = machine_args("setup_data");
  run.insert(run.end(), {"--describe-machine", "dtb"});
  const auto result = run_ember(run);
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  // Byte for byte the tree --dump-dtb wrote, as the only node of the chain.
  EXPECT_NE(result.out.find("setup_data type 2 " + fnv1a_of_file(dtb_) + "\n"), std::string::npos) << result.out;
  EXPECT_EQ(std::count(result.out.begin(), result.out.end(), '\n'), 4) << result.out;
  EXPECT_NE(result.out.find("device tree: magic and totalsize match"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("mp table: absent"), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("virtio_mmio.device="), std::string::npos) << result.out;
}

TEST_F(DescribeMachine, TheDefaultIsTheMpTableAndCommandLineAnnouncementsWithoutATree) {
  const auto result = run_ember(machine_args("setup_data"));
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_NE(result.out.find("setup_data: none"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("mp table: present"), std::string::npos) << result.out;
  EXPECT_NE(result.out.find("virtio_mmio.device=4K@0xd0000000:16 virtio_mmio.device=4K@0xd0001000:17]"), std::string::npos)
      << result.out;
}

TEST_F(DescribeMachine, DtbWithAKernelOutsideLinuxsBootProtocolIsAHostError) {
  auto run = machine_args("multiboot_smp");
  run.insert(run.end(), {"--describe-machine", "dtb"});
  const auto result = run_ember(run);
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("--describe-machine dtb needs a Linux bzImage"), std::string::npos) << result.err;
  EXPECT_EQ(result.out, "");
}

}  // namespace
}  // namespace ember::test
