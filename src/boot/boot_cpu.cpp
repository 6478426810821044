#include "boot/boot_cpu.h"

#include <algorithm>
#include <array>

#include "boot/layout.h"

namespace ember::boot {
namespace {

// A segment descriptor's access byte and flags nibble packed as in the
// descriptor's bits 40-55 (Intel SDM Vol. 3A 3.4.5).
enum SegmentFlags : uint16_t {
  kCode64Flags = 0xa09b,  // G, L, present, code execute/read accessed
  kCode32Flags = 0xc09b,  // G, D/B (32-bit), present, code execute/read accessed
  kDataFlags   = 0xc093,  // G, D/B, present, data read/write accessed
  kTssFlags    = 0x008b,  // present, 64-bit busy TSS
};

constexpr uint64_t descriptor(uint16_t flags, uint32_t base, uint32_t limit) {
  return ((uint64_t{base} & 0xff000000) << 32) | ((uint64_t{flags} & 0xf0ff) << 40) |
         ((uint64_t{limit} & 0x000f0000) << 32) | ((uint64_t{base} & 0x00ffffff) << 16) | (uint64_t{limit} & 0xffff);
}

constexpr std::array<uint64_t, 6> kGdt = {
    0,
    0,
    descriptor(kCode64Flags, 0, 0xfffff),  // 0x10
    descriptor(kDataFlags, 0, 0xfffff),    // 0x18
    descriptor(kTssFlags, 0, 0x67),        // 0x20
    descriptor(kCode32Flags, 0, 0xfffff),  // 0x28
};

kvm_segment segment(uint16_t selector, uint16_t flags, uint32_t limit) {
  const bool granular = (flags >> 15) & 1;
  kvm_segment s{};
  s.base     = 0;
  s.limit    = granular ? (limit << 12) | 0xfff : limit;
  s.selector = selector;
  s.type     = static_cast<uint8_t>(flags & 0xf);
  s.s        = static_cast<uint8_t>((flags >> 4) & 1);
  s.dpl      = static_cast<uint8_t>((flags >> 5) & 3);
  s.present  = static_cast<uint8_t>((flags >> 7) & 1);
  s.avl      = static_cast<uint8_t>((flags >> 12) & 1);
  s.l        = static_cast<uint8_t>((flags >> 13) & 1);
  s.db       = static_cast<uint8_t>((flags >> 14) & 1);
  s.g        = static_cast<uint8_t>(granular);
  s.unusable = s.present ? 0 : 1;
  return s;
}

constexpr uint64_t kPresent = 1 << 0, kWritable = 1 << 1, kWriteThrough = 1 << 3, kCacheDisable = 1 << 4,
                   kLargePage = 1 << 7;
constexpr uint64_t kGiB = 1ull << 30, kTwoMiB = 1ull << 21;

constexpr uint64_t kCr0Pe = 1u << 0, kCr0Et = 1u << 4, kCr0Ne = 1u << 5, kCr0Pg = 1u << 31;
constexpr uint64_t kCr4Pae = 1u << 5;
constexpr uint64_t kEferLme = 1u << 8, kEferLma = 1u << 10;

}  // namespace

Status write_boot_tables(const GuestMemory& memory, EntryMode mode) {
  if (!memory.write_object(layout::kGdt, kGdt)) return Error{"guest RAM is too small for the boot GDT"};
  if (mode != EntryMode::Long64) return {};

  const uint64_t mapped_gib = std::min(layout::kMaxIdentityGiB, std::max<uint64_t>(4, (memory.end() + kGiB - 1) / kGiB));
  if (!memory.write_object(layout::kPml4, uint64_t{layout::kPdpt | kPresent | kWritable})) {
    return Error{"guest RAM is too small for the boot page tables"};
  }
  for (uint64_t gib = 0; gib < mapped_gib; ++gib) {
    const uint64_t directory = layout::kPageDirs + gib * kPageSize;
    if (!memory.write_object(layout::kPdpt + gib * 8, directory | kPresent | kWritable)) {
      return Error{"guest RAM is too small for the boot page tables"};
    }
    std::array<uint64_t, 512> entries{};
    for (uint64_t i = 0; i < entries.size(); ++i) {
      const uint64_t address = gib * kGiB + i * kTwoMiB;
      const bool mmio = address >= kMmioHoleStart && address < kMmioHoleEnd;
      entries[i] = address | kPresent | kWritable | kLargePage | (mmio ? kCacheDisable | kWriteThrough : 0);
    }
    if (!memory.write_object(directory, entries)) return Error{"guest RAM is too small for the boot page tables"};
  }
  return {};
}

Status set_entry_registers(kvm::Vcpu& vcpu, const EntryPoint& entry) {
  auto sregs = vcpu.get_sregs();
  if (!sregs) return sregs.error();
  const bool long_mode = entry.mode == EntryMode::Long64;

  sregs->gdt.base = layout::kGdt;
  sregs->gdt.limit = sizeof(kGdt) - 1;
  sregs->idt.base = layout::kIdt;
  sregs->idt.limit = 0;
  sregs->cs = long_mode ? segment(kCode64Selector, kCode64Flags, 0xfffff) : segment(kCode32Selector, kCode32Flags, 0xfffff);
  sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = segment(kDataSelector, kDataFlags, 0xfffff);
  sregs->tr = segment(kTssSelector, kTssFlags, 0x67);
  if (long_mode) {
    sregs->cr0 = kCr0Pe | kCr0Et | kCr0Ne | kCr0Pg;
    sregs->cr3 = layout::kPml4;
    sregs->cr4 = kCr4Pae;
    sregs->efer = kEferLme | kEferLma;
  } else {
    // PVH: "CR0: PE set, PG clear; CR4: all bits clear" (xen docs/misc/pvh.pandoc).
    // Multiboot asks the same of CR0 and flat 4 GiB segments (spec 3.2).
    sregs->cr0 = kCr0Pe | kCr0Et;
    sregs->cr3 = 0;
    sregs->cr4 = 0;
    sregs->efer = 0;
  }
  if (auto status = vcpu.set_sregs(*sregs); !status) return status;

  kvm_regs regs{};
  regs.rflags = 0x2;  // bit 1 is reserved-one; interrupts off
  regs.rip = entry.address;
  if (long_mode) {
    regs.rsi = entry.boot_info;
    regs.rsp = regs.rbp = layout::kBootStackTop;
  } else {
    regs.rbx = entry.boot_info;
    regs.rax = entry.eax;
  }
  if (auto status = vcpu.set_regs(regs); !status) return status;

  kvm_fpu fpu{};
  fpu.fcw = 0x37f;      // x87 default control word (FNINIT)
  fpu.mxcsr = 0x1f80;   // SSE default: all exceptions masked
  return vcpu.set_fpu(fpu);
}

Status set_startup_registers(kvm::Vcpu& vcpu, uint8_t vector) {
  auto sregs = vcpu.get_sregs();
  if (!sregs) return sregs.error();
  // Real-mode segments: 64 KiB limit, present, read/write data or
  // execute/read code (SDM Vol. 3A Table 10-1, state after INIT).
  const auto real_mode = [](uint16_t selector, uint8_t type) {
    kvm_segment s{};
    s.selector = selector;
    s.base = uint64_t{selector} << 4;
    s.limit = 0xffff;
    s.type = type;
    s.present = 1;
    s.s = 1;
    return s;
  };
  sregs->cs = real_mode(static_cast<uint16_t>(vector << 8), 0xb);
  sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = real_mode(0, 0x3);
  const auto system_segment = [](uint8_t type) {
    kvm_segment s{};
    s.limit = 0xffff;
    s.type = type;
    s.present = 1;
    return s;
  };
  sregs->tr = system_segment(0xb);   // busy TSS
  sregs->ldt = system_segment(0x2);  // LDT
  sregs->gdt = {.base = 0, .limit = 0xffff, .padding = {}};
  sregs->idt = {.base = 0, .limit = 0xffff, .padding = {}};
  sregs->cr0 = 0x60000010;  // CD, NW, ET: the INIT value
  sregs->cr2 = sregs->cr3 = sregs->cr4 = 0;
  sregs->efer = 0;
  if (auto status = vcpu.set_sregs(*sregs); !status) return status;
  kvm_regs regs{};
  regs.rflags = 0x2;
  regs.rip = 0;
  return vcpu.set_regs(regs);
}

}  // namespace ember::boot
