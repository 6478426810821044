#include "emulation/instruction_emulator.h"

#include <gtest/gtest.h>

#include <vector>

#include "boot/boot_cpu.h"
#include "emulation/guest_paging.h"

namespace ember {
namespace {

// A 64-bit guest as ember boots it: identity page tables, long mode, code at
// 0x200000.
class InstructionEmulatorTest : public ::testing::Test {
 protected:
  InstructionEmulatorTest() {
    EXPECT_TRUE(boot::write_boot_tables(memory, boot::EntryMode::Long64).ok());
    sregs.cr0 = 0x80000031;
    sregs.cr3 = 0x9000;
    sregs.cr4 = 0x20;
    sregs.efer = 0x500;
    sregs.cs.l = 1;
    regs.rip = kCode;
    regs.rflags = 0x2;
  }
  EmulationResult run(std::vector<uint8_t> code, uint16_t fpu_status = 0) {
    EXPECT_TRUE(memory.write(kCode, code));
    return emulate_instruction(regs, sregs, memory, fpu_status);
  }

  static constexpr uint64_t kCode = 0x200000;
  GuestMemory memory = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  kvm_regs    regs{};
  kvm_sregs   sregs{};
};

// LSL against a GDT in guest RAM, as Linux's paranoid entry uses it: the
// per-CPU segment's limit holds the CPU number.
class LslTest : public InstructionEmulatorTest {
 protected:
  static constexpr uint64_t kGdtBase = 0x300000;
  LslTest() {
    const uint64_t gdt[6] = {
        0,
        0,
        0x00af9b000000ffffull,  // 0x10: kernel code, DPL 0, 4 GiB (granular)
        0x00cf93000000ffffull,  // 0x18: kernel data
        0x0000f50000000003ull,  // 0x20: data, DPL 3, byte limit 3 (Linux's CPU/node segment shape)
        0x0000890000000067ull,  // 0x28: available 64-bit TSS, limit 0x67
    };
    EXPECT_TRUE(memory.write(kGdtBase, std::span{reinterpret_cast<const uint8_t*>(gdt), sizeof gdt}));
    sregs.gdt.base = kGdtBase;
    sregs.gdt.limit = sizeof gdt - 1;
  }
  EmulationResult lsl(uint64_t selector) {
    regs.rax = selector;
    regs.rbx = 0x5555;
    return run({0x48, 0x0f, 0x03, 0xd8});  // lsl rbx, eax
  }
};

TEST_F(LslTest, LoadsAByteGranularLimitAndSetsZf) {
  const auto result = lsl(0x23);  // RPL 3 selector of the DPL 3 segment
  ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated) << result.instruction;
  EXPECT_EQ(result.regs.rbx, 3u);
  EXPECT_TRUE(result.regs.rflags & 0x40);
  EXPECT_EQ(result.regs.rip, kCode + 4);
}

TEST_F(LslTest, ScalesAPageGranularLimit) {
  const auto result = lsl(0x10);
  EXPECT_EQ(result.regs.rbx, 0xffffffffu);
  EXPECT_TRUE(result.regs.rflags & 0x40);
}

TEST_F(LslTest, AcceptsATssInLongMode) {
  EXPECT_EQ(lsl(0x28).regs.rbx, 0x67u);
}

TEST_F(LslTest, NullOutOfRangeAndPrivilegeFailuresClearZfAndKeepTheDestination) {
  for (uint64_t selector : {0x0ull, 0x30ull, 0x0cull /* LDT */, 0x13ull /* RPL 3 > DPL 0 */}) {
    const auto result = lsl(selector);
    ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated) << selector;
    EXPECT_EQ(result.regs.rbx, 0x5555u) << selector;
    EXPECT_FALSE(result.regs.rflags & 0x40) << selector;
  }
}

TEST_F(InstructionEmulatorTest, PopcntRegisterToRegister) {
  regs.rbx = 0xf0f0;
  regs.rax = 0xffffffff'ffffffff;
  const auto result = run({0xf3, 0x0f, 0xb8, 0xc3});  // popcnt eax, ebx
  ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated) << result.instruction;
  EXPECT_EQ(result.regs.rax, 8u) << "a 32-bit write clears bits 63:32";
  EXPECT_EQ(result.regs.rip, kCode + 4);
  EXPECT_FALSE(result.regs.rflags & (1u << 6));
  EXPECT_NE(result.instruction.find("popcnt eax, ebx"), std::string::npos) << result.instruction;
}

TEST_F(InstructionEmulatorTest, PopcntSameRegister) {
  regs.rax = 0xf0f0;
  const auto result = run({0xf3, 0x0f, 0xb8, 0xc0});  // popcnt eax, eax
  ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated);
  EXPECT_EQ(result.regs.rax, 8u);
}

TEST_F(InstructionEmulatorTest, PopcntOfZeroSetsZfAndClearsTheOtherFlags) {
  regs.rcx = 0;
  regs.rflags = 0x2 | 0x1 | 0x4 | 0x10 | 0x80 | 0x800;
  const auto result = run({0xf3, 0x0f, 0xb8, 0xc9});  // popcnt ecx, ecx
  ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated);
  EXPECT_EQ(result.regs.rflags, 0x2u | 0x40u);
}

TEST_F(InstructionEmulatorTest, Popcnt16BitKeepsTheUpperBits) {
  regs.rdx = 0x00ff;
  regs.rax = 0x12345678'9abcdef0;
  const auto result = run({0x66, 0xf3, 0x0f, 0xb8, 0xc2});  // popcnt ax, dx
  ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated) << result.instruction;
  EXPECT_EQ(result.regs.rax, 0x12345678'9abc0008u);
}

TEST_F(InstructionEmulatorTest, PopcntFromRipRelativeMemory) {
  ASSERT_TRUE(memory.write_object<uint64_t>(kCode + 0x100, 0xffff0000ffff0001ull));
  // popcnt rax, [rip + 0xf7]: the displacement counts from the next instruction (kCode + 9).
  const auto result = run({0xf3, 0x48, 0x0f, 0xb8, 0x05, 0xf7, 0x00, 0x00, 0x00});
  ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated) << result.instruction;
  EXPECT_EQ(result.regs.rax, 33u);
}

TEST_F(InstructionEmulatorTest, PopcntFromUnmappedMemoryIsUnsupported) {
  regs.rbx = 0x7fff'ffff'0000;  // beyond the identity map
  const auto result = run({0xf3, 0x48, 0x0f, 0xb8, 0x03});  // popcnt rax, [rbx]
  EXPECT_EQ(result.kind, EmulationResult::Kind::Unsupported);
}

TEST_F(InstructionEmulatorTest, Int3RaisesBreakpointAsATrap) {
  const auto result = run({0xcc});
  ASSERT_EQ(result.kind, EmulationResult::Kind::RaiseException);
  EXPECT_EQ(result.exception, 3);
  EXPECT_EQ(result.regs.rip, kCode + 1) << "#BP reports the next instruction";
}

TEST_F(InstructionEmulatorTest, FwaitIsANopUnlessAnX87ExceptionIsPending) {
  auto result = run({0x9b});
  ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated);
  EXPECT_EQ(result.regs.rip, kCode + 1);
  result = run({0x9b}, 0x80);  // FSW.ES
  ASSERT_EQ(result.kind, EmulationResult::Kind::RaiseException);
  EXPECT_EQ(result.exception, 16) << "#MF";
  EXPECT_EQ(result.regs.rip, kCode) << "#MF is a fault";
}

TEST_F(InstructionEmulatorTest, StacAndClacNeedSmap) {
  auto result = run({0x0f, 0x01, 0xcb});  // stac
  ASSERT_EQ(result.kind, EmulationResult::Kind::RaiseException);
  EXPECT_EQ(result.exception, 6) << "#UD without CR4.SMAP";
  sregs.cr4 |= 1u << 21;
  result = run({0x0f, 0x01, 0xcb});
  ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated);
  EXPECT_TRUE(result.regs.rflags & (1u << 18));
  regs.rflags = result.regs.rflags;
  result = run({0x0f, 0x01, 0xca});  // clac
  ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated);
  EXPECT_FALSE(result.regs.rflags & (1u << 18));
  EXPECT_EQ(result.regs.rip, kCode + 3);
}

TEST_F(InstructionEmulatorTest, OtherInstructionsAreUnsupportedAndNamed) {
  const auto result = run({0x48, 0x0f, 0xae, 0x2f});  // xrstor [rdi]
  EXPECT_EQ(result.kind, EmulationResult::Kind::Unsupported);
  EXPECT_NE(result.instruction.find("xrstor"), std::string::npos) << result.instruction;
  EXPECT_NE(result.instruction.find("[48 0f ae 2f]"), std::string::npos) << result.instruction;
}

TEST_F(InstructionEmulatorTest, UnmappedRipIsUnreadable) {
  regs.rip = 0x7fff'ffff'0000;
  EXPECT_EQ(emulate_instruction(regs, sregs, memory, 0).kind, EmulationResult::Kind::Unreadable);
}

TEST(GuestPaging, FourLevelWith2MiBPagesAsEmberBuildsThem) {
  auto memory = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  ASSERT_TRUE(boot::write_boot_tables(memory, boot::EntryMode::Long64).ok());
  const PagingState paging{0x80000001, 0x9000, 0x20, 0x500};
  EXPECT_EQ(translate(memory, paging, 0x123456), 0x123456u);
  EXPECT_EQ(translate(memory, paging, 0xfee00020), 0xfee00020u);
  EXPECT_EQ(translate(memory, paging, 0x10'0000'0000), std::nullopt) << "beyond the mapped 16 GiB";
}

TEST(GuestPaging, FourKiBPagesAndNotPresent) {
  auto memory = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  // PML4 at 0x10000 -> PDPT 0x11000 -> PD 0x12000 -> PT 0x13000; linear 0x400000 -> physical 0x555000.
  ASSERT_TRUE(memory.write_object<uint64_t>(0x10000, 0x11000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x11000, 0x12000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x12000 + 2 * 8, 0x13000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x13000, 0x555000 | 3));
  const PagingState paging{0x80000001, 0x10000, 0x20, 0x500};
  EXPECT_EQ(translate(memory, paging, 0x400abc), 0x555abcu);
  EXPECT_EQ(translate(memory, paging, 0x401000), std::nullopt) << "PTE not present";
}

TEST(GuestPaging, ThirtyTwoBitAndPaeAndPagingOff) {
  auto memory = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  EXPECT_EQ(translate(memory, PagingState{0x1, 0, 0, 0}, 0x1234), 0x1234u) << "paging off";
  // 32-bit paging with a 4 MiB page: PDE 1 maps 0x400000 -> 0x800000.
  ASSERT_TRUE(memory.write_object<uint32_t>(0x20000 + 4, 0x800000 | 0x83));
  EXPECT_EQ(translate(memory, PagingState{0x80000001, 0x20000, 0x10, 0}, 0x400123), 0x800123u);
  // PAE: PDPTE 0 -> PD 0x31000, 2 MiB page at 0x600000.
  ASSERT_TRUE(memory.write_object<uint64_t>(0x30000, 0x31000 | 1));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x31000 + 8, 0x600000 | 0x83));
  EXPECT_EQ(translate(memory, PagingState{0x80000001, 0x30000, 0x20, 0}, 0x200456), 0x600456u);
}

}  // namespace
}  // namespace ember
