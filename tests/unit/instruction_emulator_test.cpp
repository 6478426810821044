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
  // Real mode (CR0.PE clear), with code at CS base `cs_base`.
  void enter_real_mode(uint64_t cs_base) {
    sregs.cr0 = 0x10;
    sregs.efer = 0;
    sregs.cs.l = 0;
    sregs.cs.db = 0;
    sregs.cs.base = cs_base;
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

TEST_F(InstructionEmulatorTest, PopcntFromUnmappedMemoryIsAPageFault) {
  regs.rbx = 0x7fff'ffff'0000;  // beyond the identity map: not present
  const auto result = run({0xf3, 0x48, 0x0f, 0xb8, 0x03});  // popcnt rax, [rbx]
  ASSERT_EQ(result.kind, EmulationResult::Kind::RaiseException);
  EXPECT_EQ(result.exception, 14);
  EXPECT_EQ(result.error_code, 0u) << "not present, a supervisor read";
  EXPECT_EQ(result.fault_address, 0x7fff'ffff'0000u);
  EXPECT_EQ(result.regs.rip, kCode) << "#PF is a fault";
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

TEST_F(InstructionEmulatorTest, AnUnmappedRipIsAFetchPageFault) {
  regs.rip = 0x7fff'ffff'0000;
  const auto result = emulate_instruction(regs, sregs, memory, 0);
  ASSERT_EQ(result.kind, EmulationResult::Kind::RaiseException);
  EXPECT_EQ(result.exception, 14);
  EXPECT_EQ(result.fault_address, 0x7fff'ffff'0000u);
}

TEST_F(InstructionEmulatorTest, ARipOutsideGuestRamIsUnreadable) {
  sregs.cr0 = 0x31;  // paging off, so the address goes straight to RAM
  sregs.efer = 0;
  sregs.cs.l = 0;
  sregs.cs.db = 1;
  regs.rip = 0x7000'0000;  // above the guest's 16 MiB, below the MMIO hole
  EXPECT_EQ(emulate_instruction(regs, sregs, memory, 0).kind, EmulationResult::Kind::Unreadable);
}

// The VCPU loop completes the HLT of `sti; hlt` before it injects at an
// interrupt window (VcpuRunner::complete_hlt_before_injecting).
TEST_F(InstructionEmulatorTest, RipPastHltAfterStiSeesOnlyStiThenHltThroughThePageTables) {
  ASSERT_TRUE(memory.write(kCode, std::vector<uint8_t>{0xfb, 0xf4, 0x90, 0xf4}));  // sti; hlt; nop; hlt
  regs.rip = kCode + 1;
  EXPECT_EQ(rip_past_hlt_after_sti(regs, sregs, memory, kMaxPhysicalAddressBits), kCode + 2);
  regs.rip = kCode;
  EXPECT_EQ(rip_past_hlt_after_sti(regs, sregs, memory, kMaxPhysicalAddressBits), std::nullopt) << "sti";
  regs.rip = kCode + 3;
  EXPECT_EQ(rip_past_hlt_after_sti(regs, sregs, memory, kMaxPhysicalAddressBits), std::nullopt) << "a hlt after a nop";
  regs.rip = 0x7fff'ffff'0000;
  EXPECT_EQ(rip_past_hlt_after_sti(regs, sregs, memory, kMaxPhysicalAddressBits), std::nullopt) << "unmapped";
  sregs.cs.base = 0x1000;  // no base in 64-bit mode
  regs.rip = kCode + 1;
  EXPECT_EQ(rip_past_hlt_after_sti(regs, sregs, memory, kMaxPhysicalAddressBits), kCode + 2);
}

TEST_F(InstructionEmulatorTest, RipPastHltAfterStiOnlyWhereHltMayRun) {
  ASSERT_TRUE(memory.write(kCode, std::vector<uint8_t>{0xfb, 0xf4}));
  regs.rip = kCode + 1;
  sregs.cs.dpl = 3;  // HLT at CPL 3 raises #GP
  EXPECT_EQ(rip_past_hlt_after_sti(regs, sregs, memory, kMaxPhysicalAddressBits), std::nullopt);
  sregs.cs.dpl = 0;
  regs.rflags |= 1u << 17;  // virtual-8086 mode
  EXPECT_EQ(rip_past_hlt_after_sti(regs, sregs, memory, kMaxPhysicalAddressBits), std::nullopt);
}

TEST_F(InstructionEmulatorTest, RipPastHltAfterStiAddsTheSegmentBaseAndWrapsIpInRealMode) {
  enter_real_mode(0x10000);
  ASSERT_TRUE(memory.write(0x1fffe, std::vector<uint8_t>{0xfb, 0xf4}));
  regs.rip = 0xffff;
  EXPECT_EQ(rip_past_hlt_after_sti(regs, sregs, memory, kMaxPhysicalAddressBits), 0u) << "IP wraps at 16 bits";
  sregs.cs.base = 0;
  EXPECT_EQ(rip_past_hlt_after_sti(regs, sregs, memory, kMaxPhysicalAddressBits), std::nullopt) << "other bytes at 0xfffe";
}

TEST_F(InstructionEmulatorTest, RealModeCodeIsFetchedAtTheSegmentBaseAndIpWrapsAt16Bits) {
  enter_real_mode(0x20000);
  regs.rip = 0xffff;
  ASSERT_TRUE(memory.write(0x2ffff, std::vector<uint8_t>{0x9b}));  // fwait, IP's last byte
  auto result = emulate_instruction(regs, sregs, memory, 0);
  ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated) << result.instruction;
  EXPECT_EQ(result.regs.rip, 0u) << "IP wraps at 16 bits, not 32";
  ASSERT_TRUE(memory.write(0x2ffff, std::vector<uint8_t>{0xcc}));  // int3
  result = emulate_instruction(regs, sregs, memory, 0);
  ASSERT_EQ(result.kind, EmulationResult::Kind::RaiseException);
  EXPECT_EQ(result.regs.rip, 0u) << "a trap's next instruction wraps too";
  EXPECT_NE(disassemble_at_rip(regs, sregs, memory, 1).find("000000000002ffff: int3"), std::string::npos)
      << disassemble_at_rip(regs, sregs, memory, 1);
}

TEST_F(InstructionEmulatorTest, SixtyFourBitCodeIgnoresTheCodeSegmentBase) {
  sregs.cs.base = 0x1000;  // no effect in 64-bit mode (SDM Vol. 3A 3.4.4)
  const auto result = run({0x9b});
  ASSERT_EQ(result.kind, EmulationResult::Kind::Emulated) << result.instruction;
  EXPECT_EQ(result.regs.rip, kCode + 1);
}

// Issue 18, item 11: the emulator's own accesses get the checks the CPU
// makes. 4 KiB pages at 0x400000 (PML4 0x10000 -> PDPT 0x11000 -> PD
// 0x12000 -> PT 0x13000), each page identity-mapped with its own flags.
class GuestPrivilegeTest : public InstructionEmulatorTest {
 protected:
  static constexpr uint64_t kUserCode = 0x400000, kSupervisorData = 0x401000, kUserData = 0x402000, kNoExecute = 0x403000,
                            kReadOnly = 0x404000;
  static constexpr uint64_t kP = 1, kW = 2, kU = 4, kXd = 1ull << 63;
  GuestPrivilegeTest() {
    EXPECT_TRUE(memory.write_object<uint64_t>(0x10000, 0x11000 | kP | kW | kU));
    EXPECT_TRUE(memory.write_object<uint64_t>(0x11000, 0x12000 | kP | kW | kU));
    EXPECT_TRUE(memory.write_object<uint64_t>(0x12000 + 2 * 8, 0x13000 | kP | kW | kU));
    map(kUserCode, kP | kW | kU);
    map(kSupervisorData, kP | kW);
    map(kUserData, kP | kW | kU);
    map(kNoExecute, kP | kW | kU | kXd);
    map(kReadOnly, kP | kU);
    sregs.cr3 = 0x10000;
    sregs.efer = 0xd00;  // LME, LMA, NXE
    regs.rip = kUserCode;
  }
  void map(uint64_t page, uint64_t flags) {
    EXPECT_TRUE(memory.write_object<uint64_t>(0x13000 + ((page >> 12) & 0x1ff) * 8, page | flags));
  }
  EmulationResult popcnt_at(uint64_t address, bool user) {
    sregs.cs.dpl = user ? 3 : 0;
    regs.rbx = address;
    EXPECT_TRUE(memory.write(regs.rip, std::vector<uint8_t>{0xf3, 0x48, 0x0f, 0xb8, 0x03}));  // popcnt rax, [rbx]
    return emulate_instruction(regs, sregs, memory, 0);
  }
  static void expect_page_fault(const EmulationResult& result, uint32_t error_code, uint64_t address) {
    ASSERT_EQ(result.kind, EmulationResult::Kind::RaiseException) << result.instruction;
    EXPECT_EQ(result.exception, 14);
    EXPECT_EQ(result.error_code, error_code);
    EXPECT_EQ(result.fault_address, address);
  }
};

TEST_F(GuestPrivilegeTest, UserCodeReadsUserPagesButNotSupervisorOnes) {
  EXPECT_EQ(popcnt_at(kUserData, true).kind, EmulationResult::Kind::Emulated);
  expect_page_fault(popcnt_at(kSupervisorData + 8, true), kPfPresent | kPfUser, kSupervisorData + 8);
  EXPECT_EQ(popcnt_at(kSupervisorData, false).kind, EmulationResult::Kind::Emulated) << "CPL 0 may";
}

TEST_F(GuestPrivilegeTest, NonCanonicalOperandsRaiseGpOrSsForTheStack) {
  auto result = popcnt_at(0x8000'0000'0000'0000, true);
  ASSERT_EQ(result.kind, EmulationResult::Kind::RaiseException);
  EXPECT_EQ(result.exception, 13);
  EXPECT_EQ(result.error_code, 0u);
  EXPECT_EQ(result.fault_address, std::nullopt);
  regs.rsp = 0x0000'8000'0000'0000;
  ASSERT_TRUE(memory.write(regs.rip, std::vector<uint8_t>{0xf3, 0x48, 0x0f, 0xb8, 0x04, 0x24}));  // popcnt rax, [rsp]
  result = emulate_instruction(regs, sregs, memory, 0);
  ASSERT_EQ(result.kind, EmulationResult::Kind::RaiseException);
  EXPECT_EQ(result.exception, 12) << "#SS for a stack reference";
}

TEST_F(GuestPrivilegeTest, FetchingFromAnExecuteDisabledPageFaultsWithId) {
  regs.rip = kNoExecute;
  ASSERT_TRUE(memory.write(kNoExecute, std::vector<uint8_t>{0xf3, 0x48, 0x0f, 0xb8, 0xc3}));  // popcnt rax, rbx
  expect_page_fault(emulate_instruction(regs, sregs, memory, 0), kPfPresent | kPfFetch, kNoExecute);
  sregs.cs.dpl = 3;
  expect_page_fault(emulate_instruction(regs, sregs, memory, 0), kPfPresent | kPfFetch | kPfUser, kNoExecute);
}

TEST_F(GuestPrivilegeTest, AnXdBitWithoutNxeIsAReservedBitFault) {
  sregs.efer = 0x500;  // no NXE
  expect_page_fault(popcnt_at(kNoExecute, false), kPfPresent | kPfReserved, kNoExecute);
}

TEST_F(GuestPrivilegeTest, SmapKeepsSupervisorReadsOffUserPagesUnlessAcIsSet) {
  sregs.cr4 |= 1u << 21;
  expect_page_fault(popcnt_at(kUserData, false), kPfPresent, kUserData);
  regs.rflags |= 1u << 18;  // AC
  EXPECT_EQ(popcnt_at(kUserData, false).kind, EmulationResult::Kind::Emulated);
}

TEST(GuestPaging, WritesNeedRwAtEveryLevelForUsersAndWithCr0Wp) {
  auto memory = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  ASSERT_TRUE(memory.write_object<uint64_t>(0x10000, 0x11000 | 7));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x11000, 0x12000 | 7));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x12000 + 2 * 8, 0x13000 | 7));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x13000, 0x400000 | 5));  // present, user, read-only
  PagingState paging{0x80000001, 0x10000, 0x20, 0x500};
  const GuestAccess user_write{.write = true, .user = true};
  EXPECT_EQ(translate_access(memory, paging, 0x400010, user_write).page_fault, kPfPresent | kPfWrite | kPfUser);
  const GuestAccess supervisor_write{.write = true};
  EXPECT_EQ(translate_access(memory, paging, 0x400010, supervisor_write).physical, 0x400010u) << "CR0.WP clear";
  paging.cr0 |= 1u << 16;
  EXPECT_EQ(translate_access(memory, paging, 0x400010, supervisor_write).page_fault, kPfPresent | kPfWrite);
}

TEST(GuestPaging, FiveLevelPagingWithLa57AndReservedLargePageBits) {
  auto memory = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  // PML5 0x20000 -> PML4 0x10000 -> PDPT 0x11000 -> PD 0x12000, a 2 MiB page at 0x600000.
  ASSERT_TRUE(memory.write_object<uint64_t>(0x20000, 0x10000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x10000, 0x11000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x11000, 0x12000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x12000 + 8, 0x600000 | 0x83));
  const PagingState paging{0x80000001, 0x20000, 0x20 | (1u << 12), 0x500};
  EXPECT_EQ(translate(memory, paging, 0x200123), 0x600123u);
  EXPECT_EQ(translate_access(memory, paging, 0x200123, GuestAccess{}).physical, 0x600123u);
  ASSERT_TRUE(memory.write_object<uint64_t>(0x12000 + 8, 0x600000 | 0x83 | 0x4000));  // bit 14: reserved in a 2 MiB PDE
  EXPECT_EQ(translate_access(memory, paging, 0x200123, GuestAccess{}).page_fault, kPfPresent | kPfReserved);
}

// Issue 18, item 11: address bits at or above the guest's MAXPHYADDR are
// reserved in every PAE, 4-level and 5-level entry (SDM 4.4.2, 4.5.4); the
// walk stops at the first entry with one, even above a level that is not
// present (SDM 4.7: RSVD is reported with P set).
TEST(GuestPaging, AddressBitsAtOrAboveMaxPhyAddrAreReserved) {
  auto memory = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  // PML4 at 0x10000 -> PDPT 0x11000 -> PD 0x12000 -> PT 0x13000; linear 0x400000.
  ASSERT_TRUE(memory.write_object<uint64_t>(0x10000, 0x11000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x11000, 0x12000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x12000 + 2 * 8, 0x13000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x13000, (1ull << 40) | 0x555000 | 3));  // a page at bit 40
  PagingState paging{0x80000001, 0x10000, 0x20, 0x500};
  paging.physical_address_bits = 40;
  EXPECT_EQ(translate_access(memory, paging, 0x400abc, GuestAccess{}).page_fault, kPfPresent | kPfReserved);
  paging.physical_address_bits = 41;
  EXPECT_EQ(translate_access(memory, paging, 0x400abc, GuestAccess{}).physical, (1ull << 40) | 0x555abc)
      << "bit 40 is an address bit with a MAXPHYADDR of 41";

  // A PDE with bit 45 set above a page table whose entry is not present.
  ASSERT_TRUE(memory.write_object<uint64_t>(0x13000, 0));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x12000 + 2 * 8, (1ull << 45) | 0x13000 | 3));
  paging.physical_address_bits = 46;
  EXPECT_FALSE(translate_access(memory, paging, 0x400abc, GuestAccess{}).page_fault.has_value())
      << "with a MAXPHYADDR of 46, bit 45 names a page table (outside guest RAM), not a reserved bit";
  paging.physical_address_bits = 36;
  const GuestAccess user_write{.write = true, .user = true};
  EXPECT_EQ(translate_access(memory, paging, 0x400abc, user_write).page_fault, kPfPresent | kPfReserved | kPfWrite | kPfUser);

  // 4-level paging ignores bits 62:52 (SDM Table 4-19): bit 60 is no fault.
  ASSERT_TRUE(memory.write_object<uint64_t>(0x12000 + 2 * 8, 0x13000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x13000, (1ull << 60) | 0x555000 | 3));
  EXPECT_EQ(translate_access(memory, paging, 0x400abc, GuestAccess{}).physical, 0x555abcu);

  // PAE: a PDPTE with bit 39 set under a MAXPHYADDR of 36, or bit 1 (2:1
  // are reserved in a PDPTE, Table 4-8); a PDE with bit 60 (62:MAXPHYADDR
  // are reserved there, Table 4-9).
  ASSERT_TRUE(memory.write_object<uint64_t>(0x20000, (1ull << 39) | 0x12000 | 1));
  const PagingState pae{0x80000001, 0x20000, 0x20, 0, 36};
  EXPECT_EQ(translate_access(memory, pae, 0x1000, GuestAccess{}).page_fault, kPfPresent | kPfReserved);
  ASSERT_TRUE(memory.write_object<uint64_t>(0x20000, 0x12000 | 2 | 1));
  EXPECT_EQ(translate_access(memory, pae, 0x1000, GuestAccess{}).page_fault, kPfPresent | kPfReserved);
  ASSERT_TRUE(memory.write_object<uint64_t>(0x20000, 0x12000 | 1));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x12000, (1ull << 60) | 0x600000 | 0x83));  // a 2 MiB page
  EXPECT_EQ(translate_access(memory, pae, 0x1234, GuestAccess{}).page_fault, kPfPresent | kPfReserved);
  ASSERT_TRUE(memory.write_object<uint64_t>(0x12000, 0x600000 | 0x83));
  EXPECT_EQ(translate_access(memory, pae, 0x1234, GuestAccess{}).physical, 0x601234u);
}

// A report reads through reserved bits the guest's own access faults on:
// the crash report's disassembly still finds the code.
TEST(GuestPaging, AReportsUncheckedReadWalksPastReservedBits) {
  auto memory = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  ASSERT_TRUE(memory.write_object<uint64_t>(0x10000, 0x11000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x11000, 0x12000 | 3));
  ASSERT_TRUE(memory.write_object<uint64_t>(0x12000 + 2 * 8, (1ull << 63) | 0x13000 | 3));  // XD without EFER.NXE
  ASSERT_TRUE(memory.write_object<uint64_t>(0x13000, 0x555000 | 3));
  const PagingState paging{0x80000001, 0x10000, 0x20, 0x500};
  EXPECT_EQ(translate_access(memory, paging, 0x400abc, GuestAccess{}).page_fault, kPfPresent | kPfReserved);
  EXPECT_EQ(translate(memory, paging, 0x400abc), 0x555abcu);
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
