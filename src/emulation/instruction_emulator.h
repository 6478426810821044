// ember's answer to KVM_EXIT_INTERNAL_ERROR / emulation failure: KVM on some
// hosts (nested ones especially, such as kvm_pvm) runs guest supervisor code
// in its instruction emulator and stops at instructions that emulator
// lacks. ember reads the instruction at RIP through the
// guest's page tables, decodes it with Zydis and either emulates it, or
// names the exception the hardware would raise, or says it cannot. Its own
// accesses (the fetch, memory operands) are checked as the CPU checks them:
// privilege and permissions through the page tables (#PF), canonical
// addresses (#GP, #SS).
//
// A pure function of the CPU state and guest memory, so it is unit-tested
// instruction by instruction; the VCPU thread applies its result.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <optional>
#include <string>

#include "emulation/guest_paging.h"
#include "memory/guest_memory.h"

namespace ember {

struct EmulationResult {
  enum class Kind {
    Emulated,        // `regs` holds the state after the instruction
    RaiseException,  // inject `exception` with `regs` (RIP after a trap, at the instruction for a fault)
    Unsupported,     // neither KVM nor ember can run it
    Unreadable,      // the instruction bytes are not mapped in guest RAM
  };
  Kind        kind = Kind::Unsupported;
  kvm_regs    regs{};
  uint8_t     exception = 0;
  std::optional<uint32_t> error_code;     // for exceptions that push one (#GP, #SS, #PF)
  std::optional<uint64_t> fault_address;  // #PF: the linear address, for CR2
  std::string instruction;  // "popcnt eax, ebx [f3 0f b8 c3]", for logs and crash reports
};

// `fpu_status` is the x87 status word (for FWAIT's pending-exception check);
// `physical_address_bits` the guest's MAXPHYADDR (its CPUID 80000008H
// EAX[7:0]), above which page-table address bits are reserved.
EmulationResult emulate_instruction(const kvm_regs& regs, const kvm_sregs& sregs, const GuestMemory& memory,
                                    uint16_t fpu_status, unsigned physical_address_bits = kMaxPhysicalAddressBits);

// Where RIP goes once a HLT at RIP has run, when that HLT directly follows
// an STI (bytes FB F4, RIP at the F4) at CPL 0 outside virtual-8086 mode;
// nullopt otherwise. IP wraps at the code segment's width; the bytes are
// read unchecked through the guest's page tables.
std::optional<uint64_t> rip_past_hlt_after_sti(const kvm_regs& regs, const kvm_sregs& sregs, const GuestMemory& memory,
                                               unsigned physical_address_bits);

// Up to `count` instructions decoded forward from RIP, one per line, the
// first marked "=>", for crash reports.
std::string disassemble_at_rip(const kvm_regs& regs, const kvm_sregs& sregs, const GuestMemory& memory, int count);

}  // namespace ember
