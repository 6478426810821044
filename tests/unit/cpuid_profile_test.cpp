#include "vcpu/cpuid_profile.h"

#include <gtest/gtest.h>

namespace ember {
namespace {

std::vector<kvm_cpuid_entry2> sample() {
  std::vector<kvm_cpuid_entry2> entries(3);
  entries[0].function = 0x1;
  entries[0].ebx = 0xff00'0800;  // host APIC ID 0xff, CLFLUSH size 8
  entries[0].ecx = (1u << 21) | (1u << 24) | (1u << 23);  // x2APIC, TSC-deadline, POPCNT
  entries[1].function = 0xb;
  entries[1].edx = 0x77;
  entries[2].function = 0x40000001;
  entries[2].eax = 0xffffffff;
  return entries;
}

const kvm_cpuid_entry2& leaf(const std::vector<kvm_cpuid_entry2>& entries, uint32_t function) {
  for (const auto& e : entries) {
    if (e.function == function) return e;
  }
  throw std::runtime_error("missing leaf");
}

TEST(CpuidProfile, PhysicalAddressBitsComeFromLeaf80000008OrAre36) {
  auto entries = sample();
  EXPECT_EQ(physical_address_bits(entries), 36u) << "no leaf 80000008H";
  kvm_cpuid_entry2 sizes{};
  sizes.function = 0x80000008;
  sizes.eax = 0x3028;  // 48 linear, 40 physical
  entries.push_back(sizes);
  EXPECT_EQ(physical_address_bits(entries), 40u);
}

TEST(CpuidProfile, ApicIdsAreTheVcpuIndex) {
  const auto entries = cpuid_for_vcpu(sample(), 3, 4);
  EXPECT_EQ(leaf(entries, 0x1).ebx >> 24, 3u);
  EXPECT_EQ((leaf(entries, 0x1).ebx >> 16) & 0xff, 4u) << "logical processor count";
  EXPECT_EQ(leaf(entries, 0x1).ebx & 0xffff, 0x0800u) << "other fields kept";
  EXPECT_EQ(leaf(entries, 0xb).edx, 3u);
}

TEST(CpuidProfile, AnnouncesAHypervisorAndHidesWhatTheUserspaceLapicLacks) {
  const auto ecx = leaf(cpuid_for_vcpu(sample(), 0, 1), 0x1).ecx;
  EXPECT_TRUE(ecx & (1u << 31)) << "hypervisor present";
  EXPECT_FALSE(ecx & (1u << 21)) << "x2APIC";
  EXPECT_FALSE(ecx & (1u << 24)) << "TSC deadline";
  EXPECT_TRUE(ecx & (1u << 23)) << "unrelated features pass through";
}

TEST(CpuidProfile, ClearsKvmFeaturesThatNeedAnInKernelLapic) {
  const auto eax = leaf(cpuid_for_vcpu(sample(), 0, 1), 0x40000001).eax;
  for (unsigned bit : {4u, 6u, 7u, 9u, 11u, 13u, 14u, 15u}) EXPECT_FALSE(eax & (1u << bit)) << "bit " << bit;
  for (unsigned bit : {0u, 1u, 3u, 24u}) EXPECT_TRUE(eax & (1u << bit)) << "kvmclock and friends stay, bit " << bit;
}

TEST(CpuidProfile, HttOnlyForSmp) {
  EXPECT_FALSE(leaf(cpuid_for_vcpu(sample(), 0, 1), 0x1).edx & (1u << 28));
  EXPECT_TRUE(leaf(cpuid_for_vcpu(sample(), 0, 2), 0x1).edx & (1u << 28));
}

}  // namespace
}  // namespace ember
