// The interrupt architecture under real guests: each program in
// tests/guests/ exercises one path (LAPIC timer, IPIs, INIT/SIPI, IOAPIC,
// TPR and CR8, storms, interrupts held while IF is clear, APIC disable and
// relocation, NMI latching) and must pass with 1, 2 and 4 VCPUs.
#include <gtest/gtest.h>

#include <string>
#include <tuple>

#include "support/run_process.h"

namespace ember::test {
namespace {

struct Program {
  const char* name;
  const char* success_line;  // what the program prints when every check passed
};

constexpr Program kPrograms[] = {
    {"lapic_timer", "lapic timer: one-shot, periodic and wake from hlt ok"},
    {"self_ipi", "self IPIs ok"},
    {"smp_bringup", "cpus online: "},
    {"ipi_pairs", "pairs ok"},
    {"ioapic_level", "ioapic level: delivered, held by remote IRR, re-delivered after EOI ok"},
    {"ioapic_edge", "ioapic edge: one delivery per rising edge ok"},
    {"tpr_masking", "tpr masking ok"},
    {"ipi_storm", "guest alive"},
    {"interrupts_disabled", "held interrupts delivered exactly once after sti"},
    {"x2apic", "x2apic: mode switch, ID, LDR, SELF IPI, ICR IPI, EOI and timer by MSR ok"},
    {"tsc_deadline", "tsc-deadline: fires once, reads 0 after, past deadline at once, 0 disarms, wakes hlt ok"},
    {"pit", "pit: channel 0 modes 2 and 0 on IRQ 0, channel 2 via port 0x61 ok"},
    {"pic", "pic: IRQ 0 through the 8259 and LINT0 ExtINT, EOI and mask ok"},
    // LAPIC conformance (issue 21): each failed before its fix.
    {"cr8_tpr", "cr8/tpr: mov cr8 shows in TPR, TPR in CR8, CR8 holds back its class ok"},
    {"pv_eoi", "pv eoi: offered for edge interrupts, ended by ember, kept behind a waiting vector until interrupts are on and behind TPR, never for a level one, off when turned off ok"},
    {"apic_disable", "apic disable: CPUID and MMIO follow IA32_APIC_BASE.EN, initial IDs after re-enable and in x2APIC mode ok"},
    {"lapic_timer_modes", "lapic timer modes: one-shot <-> periodic keep the count, a new initial count restarts ok"},
    {"apic_relocate", "apic relocate: the page follows IA32_APIC_BASE, per CPU ok"},
    {"nmi_latch", "nmi latch: one pending behind one in service, two back to back are two ok"},
    // A halted VCPU woken by another's kick (VcpuRunner::kick), and the
    // HLT of `sti; hlt` at an interrupt window: a lost wake-up hangs it.
    {"halt_ping_pong", "halt ping-pong: 2000 wake-ups of a halted CPU per CPU ok"},
};

// Exit status of a program whose feature this host cannot offer (x2APIC and
// TSC-deadline need KVM to send APIC MSRs to userspace).
constexpr int kNotOffered = 77;

class InterruptProgram : public ::testing::TestWithParam<std::tuple<Program, int>> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(kvm_available()) << kNoKvm;
  }
};

TEST_P(InterruptProgram, PassesItsChecks) {
  const auto& [program, cpus] = GetParam();
  // 100 s, a bound for a hang: at 60000 exits ipi_storm took 54 s in the
  // nested tier beside the soak test (it now makes a quarter of them);
  // ctest stops a test at 120 s.
  const auto result = run_ember({"run", "--kernel", guest_program(program.name), "--cpus",
                                 std::to_string(cpus), "--memory", "64M", "--timeout", "100"});
  if (result.exit_code == kNotOffered) GTEST_SKIP() << "this host's KVM cannot send APIC MSRs to userspace";
  EXPECT_EQ(result.exit_code, 0) << "console:\n" << result.out << "stderr:\n" << result.err;
  EXPECT_NE(result.out.find(program.success_line), std::string::npos) << result.out;
  EXPECT_EQ(result.out.find("FAIL"), std::string::npos) << result.out;
}

TEST(InterruptProgramCpuCount, SmpBringupReportsEveryCpu) {
  ASSERT_TRUE(kvm_available()) << kNoKvm;
  // 16: more threads than glibc's first eight malloc arenas, whose ninth
  // made glibc call sched_getaffinity under the filter (status 122).
  for (int cpus : {1, 2, 4, 16}) {
    const auto result = run_ember({"run", "--kernel", guest_program("smp_bringup"), "--cpus",
                                   std::to_string(cpus), "--memory", "64M", "--timeout", "60"});
    EXPECT_EQ(result.out, "cpus online: " + std::to_string(cpus) + "\n") << result.err;
    EXPECT_EQ(result.exit_code, 0) << result.err;
  }
}

INSTANTIATE_TEST_SUITE_P(AllPaths, InterruptProgram, ::testing::Combine(::testing::ValuesIn(kPrograms), ::testing::Values(1, 2, 4)),
                         [](const auto& param_info) {
                           return std::string(std::get<0>(param_info.param).name) + "_cpus" + std::to_string(std::get<1>(param_info.param));
                         });

}  // namespace
}  // namespace ember::test
