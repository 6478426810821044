#include "emulation/instruction_emulator.h"

#include <Zydis/Zydis.h>

#include <bit>
#include <cstdio>
#include <optional>

#include "emulation/guest_paging.h"

namespace ember {
namespace {

constexpr uint8_t kBreakpoint = 3, kInvalidOpcode = 6, kMathFault = 16;
constexpr uint64_t kCr0Pe = 1, kCr4Smap = 1ull << 21, kEferLma = 1ull << 10;
constexpr uint64_t kFlagCf = 1 << 0, kFlagPf = 1 << 2, kFlagAf = 1 << 4, kFlagZf = 1 << 6, kFlagSf = 1 << 7,
                   kFlagOf = 1 << 11, kFlagAc = 1 << 18;
constexpr uint16_t kFpuErrorSummary = 1 << 7;  // x87 FSW.ES: an unmasked exception is pending

struct Decoded {
  ZydisDecodedInstruction instruction;
  ZydisDecodedOperand     operands[ZYDIS_MAX_OPERAND_COUNT];
  uint8_t                 bytes[ZYDIS_MAX_INSTRUCTION_LENGTH];
};

ZydisMachineMode machine_mode(const kvm_sregs& sregs) {
  if ((sregs.efer & kEferLma) && sregs.cs.l) return ZYDIS_MACHINE_MODE_LONG_64;
  if (!(sregs.cr0 & kCr0Pe)) return ZYDIS_MACHINE_MODE_REAL_16;
  if (sregs.efer & kEferLma) return sregs.cs.db ? ZYDIS_MACHINE_MODE_LONG_COMPAT_32 : ZYDIS_MACHINE_MODE_LONG_COMPAT_16;
  return sregs.cs.db ? ZYDIS_MACHINE_MODE_LEGACY_32 : ZYDIS_MACHINE_MODE_LEGACY_16;
}

ZydisStackWidth stack_width(ZydisMachineMode mode) {
  switch (mode) {
    case ZYDIS_MACHINE_MODE_LONG_64:         return ZYDIS_STACK_WIDTH_64;
    case ZYDIS_MACHINE_MODE_LONG_COMPAT_32:
    case ZYDIS_MACHINE_MODE_LEGACY_32:       return ZYDIS_STACK_WIDTH_32;
    default:                                 return ZYDIS_STACK_WIDTH_16;
  }
}

PagingState paging_of(const kvm_sregs& sregs, unsigned physical_address_bits) {
  return PagingState{sregs.cr0, sregs.cr3, sregs.cr4, sregs.efer, physical_address_bits};
}

// The guest's own access at its current privilege: CPL is CS.DPL in
// protected and long mode (SDM Vol. 3A 5.5).
GuestAccess guest_access(const kvm_regs& regs, const kvm_sregs& sregs, bool fetch) {
  return GuestAccess{.write = false, .fetch = fetch, .user = (sregs.cr0 & kCr0Pe) && sregs.cs.dpl == 3,
                     .alignment_check = (regs.rflags & kFlagAc) != 0};
}

// Fetches and decodes the instruction at `linear`. Reads as much as is
// mapped, up to 15 bytes, so an instruction at the end of a page next to an
// unmapped one still decodes. With `access`, the fetch is checked as the
// CPU checks it and `fault` says where it stopped; without, it is a report's
// unchecked read.
std::optional<Decoded> decode_at(const GuestMemory& memory, const kvm_sregs& sregs, const PagingState& paging, uint64_t linear,
                                 const GuestAccess* access = nullptr, std::optional<LinearFault>* fault = nullptr) {
  Decoded decoded{};
  size_t available = 0;
  while (available < sizeof decoded.bytes) {
    const std::span<uint8_t> next{decoded.bytes + available, 1};
    if (access == nullptr) {
      if (!read_linear(memory, paging, linear + available, next)) break;
    } else if (auto stopped = read_linear_as(memory, paging, linear + available, next, *access)) {
      if (fault != nullptr) *fault = stopped;
      break;
    }
    ++available;
  }
  if (available == 0) return std::nullopt;
  const ZydisMachineMode mode = machine_mode(sregs);
  ZydisDecoder decoder;
  if (ZYAN_FAILED(ZydisDecoderInit(&decoder, mode, stack_width(mode)))) return std::nullopt;
  if (ZYAN_FAILED(ZydisDecoderDecodeFull(&decoder, decoded.bytes, available, &decoded.instruction, decoded.operands))) {
    return std::nullopt;
  }
  return decoded;
}

std::string describe(const Decoded& decoded, uint64_t address) {
  ZydisFormatter formatter;
  char text[256] = "?";
  if (ZYAN_SUCCESS(ZydisFormatterInit(&formatter, ZYDIS_FORMATTER_STYLE_INTEL))) {
    ZydisFormatterFormatInstruction(&formatter, &decoded.instruction, decoded.operands,
                                    decoded.instruction.operand_count_visible, text, sizeof text, address, ZYAN_NULL);
  }
  std::string result = text;
  result += " [";
  for (uint8_t i = 0; i < decoded.instruction.length; ++i) {
    char hex[4];
    std::snprintf(hex, sizeof hex, i ? " %02x" : "%02x", decoded.bytes[i]);
    result += hex;
  }
  return result + "]";
}

// kvm_regs' slot for a general-purpose register of any width (AL, AX, EAX,
// RAX...). Typed as the field itself (__u64 is unsigned long long, uint64_t
// unsigned long): a uint64_t* into kvm_regs would break strict aliasing.
using RegisterValue = decltype(kvm_regs::rax);
RegisterValue* register_slot(kvm_regs& regs, ZydisRegister reg) {
  switch (ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, reg)) {
    case ZYDIS_REGISTER_RAX: return &regs.rax;
    case ZYDIS_REGISTER_RBX: return &regs.rbx;
    case ZYDIS_REGISTER_RCX: return &regs.rcx;
    case ZYDIS_REGISTER_RDX: return &regs.rdx;
    case ZYDIS_REGISTER_RSI: return &regs.rsi;
    case ZYDIS_REGISTER_RDI: return &regs.rdi;
    case ZYDIS_REGISTER_RSP: return &regs.rsp;
    case ZYDIS_REGISTER_RBP: return &regs.rbp;
    case ZYDIS_REGISTER_R8:  return &regs.r8;
    case ZYDIS_REGISTER_R9:  return &regs.r9;
    case ZYDIS_REGISTER_R10: return &regs.r10;
    case ZYDIS_REGISTER_R11: return &regs.r11;
    case ZYDIS_REGISTER_R12: return &regs.r12;
    case ZYDIS_REGISTER_R13: return &regs.r13;
    case ZYDIS_REGISTER_R14: return &regs.r14;
    case ZYDIS_REGISTER_R15: return &regs.r15;
    default:                 return nullptr;
  }
}

uint64_t width_mask(unsigned bits) { return bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1; }

// IP, EIP or RIP: the instruction pointer is as wide as the code segment's
// default operand size, and wraps there (SDM Vol. 1 3.6; Vol. 3A 3.4.5, D
// flag).
uint64_t instruction_pointer_mask(const kvm_sregs& sregs) {
  switch (machine_mode(sregs)) {
    case ZYDIS_MACHINE_MODE_LONG_64:         return width_mask(64);
    case ZYDIS_MACHINE_MODE_LONG_COMPAT_32:
    case ZYDIS_MACHINE_MODE_LEGACY_32:       return width_mask(32);
    default:                                 return width_mask(16);
  }
}

// The linear address of code at instruction pointer `ip`: CS's base plus
// IP, except in 64-bit mode, where CS has no base (SDM Vol. 3A 3.4.4);
// outside it linear addresses are 32 bits wide.
uint64_t code_linear_address(const kvm_sregs& sregs, uint64_t ip) {
  if (machine_mode(sregs) == ZYDIS_MACHINE_MODE_LONG_64) return ip;
  return (sregs.cs.base + (ip & instruction_pointer_mask(sregs))) & width_mask(32);
}

// A memory operand's linear address (SDM Vol. 1 3.7.5): segment base (only
// FS and GS have one in 64-bit mode) + base + index * scale + displacement,
// truncated to the address size.
std::optional<uint64_t> operand_address(const ZydisDecodedInstruction& instruction, const ZydisDecodedOperand& operand,
                                        kvm_regs regs, const kvm_sregs& sregs) {
  uint64_t address = static_cast<uint64_t>(operand.mem.disp.value);
  if (operand.mem.base == ZYDIS_REGISTER_RIP || operand.mem.base == ZYDIS_REGISTER_EIP) {
    address += regs.rip + instruction.length;
  } else if (operand.mem.base != ZYDIS_REGISTER_NONE) {
    const RegisterValue* base = register_slot(regs, operand.mem.base);
    if (base == nullptr) return std::nullopt;
    address += *base;
  }
  if (operand.mem.index != ZYDIS_REGISTER_NONE) {
    const RegisterValue* index = register_slot(regs, operand.mem.index);
    if (index == nullptr) return std::nullopt;
    address += *index * operand.mem.scale;
  }
  address &= width_mask(instruction.address_width);
  const bool long_mode = machine_mode(sregs) == ZYDIS_MACHINE_MODE_LONG_64;
  switch (operand.mem.segment) {
    case ZYDIS_REGISTER_FS: return address + sregs.fs.base;
    case ZYDIS_REGISTER_GS: return address + sregs.gs.base;
    case ZYDIS_REGISTER_ES: return address + (long_mode ? 0 : sregs.es.base);
    case ZYDIS_REGISTER_CS: return address + (long_mode ? 0 : sregs.cs.base);
    case ZYDIS_REGISTER_SS: return address + (long_mode ? 0 : sregs.ss.base);
    default:                return address + (long_mode ? 0 : sregs.ds.base);
  }
}

// An exception an operand access raises, as the CPU would (SDM Vol. 3A ch. 6):
// its vector, error code and, for #PF, the faulting linear address (CR2).
struct Fault {
  uint8_t                 vector;
  uint32_t                error_code;
  std::optional<uint64_t> address;
};

constexpr uint8_t kStackFault = 12, kGeneralProtection = 13, kPageFault = 14;

// A 64-bit mode linear address must be canonical: bits 63:47 (63:56 with
// 5-level paging) all equal (SDM Vol. 1 3.3.7.1).
bool canonical(uint64_t address, const kvm_sregs& sregs) {
  const unsigned bits = (sregs.cr4 & (1u << 12)) ? 57 : 48;
  const auto top = static_cast<int64_t>(address) >> (bits - 1);
  return top == 0 || top == -1;
}

struct Operand {
  std::optional<uint64_t> value;
  std::optional<Fault>    fault;
};

Operand read_operand(const Decoded& decoded, const ZydisDecodedOperand& operand, const kvm_regs& regs, const kvm_sregs& sregs,
                     const PagingState& paging, const GuestMemory& memory) {
  const unsigned bits = operand.size;
  if (operand.type == ZYDIS_OPERAND_TYPE_REGISTER) {
    kvm_regs copy = regs;
    const RegisterValue* slot = register_slot(copy, operand.reg.value);
    if (slot == nullptr) return {};
    return {*slot & width_mask(bits), std::nullopt};
  }
  if (operand.type != ZYDIS_OPERAND_TYPE_MEMORY) return {};
  const auto address = operand_address(decoded.instruction, operand, regs, sregs);
  if (!address) return {};
  if (machine_mode(sregs) == ZYDIS_MACHINE_MODE_LONG_64 && !canonical(*address, sregs)) {
    // #SS(0) for a stack-segment reference, #GP(0) otherwise (SDM Vol. 3A 6.15).
    return {std::nullopt, Fault{operand.mem.segment == ZYDIS_REGISTER_SS ? kStackFault : kGeneralProtection, 0, std::nullopt}};
  }
  uint64_t value = 0;
  const auto fault = read_linear_as(memory, paging, *address, std::span{reinterpret_cast<uint8_t*>(&value), bits / 8},
                                    guest_access(regs, sregs, false));
  if (fault && fault->error_code) return {std::nullopt, Fault{kPageFault, *fault->error_code, fault->address}};
  if (fault) return {};  // outside guest RAM: not something to fault the guest for
  return {value, std::nullopt};
}

// Writes a general-purpose register as the CPU does: a 32-bit write clears
// bits 63:32, 8- and 16-bit writes keep the rest (SDM Vol. 1 3.4.1.1).
bool write_register(kvm_regs& regs, ZydisRegister reg, uint64_t value, unsigned bits) {
  RegisterValue* slot = register_slot(regs, reg);
  if (slot == nullptr) return false;
  if (bits == 32) *slot = value & 0xffffffff;
  else if (bits == 64) *slot = value;
  else *slot = (*slot & ~width_mask(bits)) | (value & width_mask(bits));
  return true;
}

// LSL's answer for `selector`: the byte-granular limit of a GDT/LDT
// descriptor LSL may read, or nullopt where LSL clears ZF (SDM Vol. 2A, LSL):
// a null selector, one past the table's limit, a descriptor type LSL does not
// accept, or a privilege check that fails. The LDT is not read (ember's
// guests keep none); an LDT selector counts as failing.
std::optional<uint32_t> segment_limit_for_lsl(uint16_t selector, const kvm_sregs& sregs, const PagingState& paging,
                                              const GuestMemory& memory, bool long_mode) {
  const bool in_ldt = selector & 4;
  const auto index_bytes = static_cast<uint16_t>(selector & ~7u);
  if (index_bytes == 0 || in_ldt || index_bytes + 7u > sregs.gdt.limit) return std::nullopt;
  uint64_t descriptor = 0;
  if (!read_linear(memory, paging, sregs.gdt.base + index_bytes,
                   std::span{reinterpret_cast<uint8_t*>(&descriptor), sizeof descriptor})) {
    return std::nullopt;
  }
  const unsigned type = (descriptor >> 40) & 0xf;
  const bool code_or_data = (descriptor >> 44) & 1;
  const unsigned dpl = (descriptor >> 45) & 3;
  if (code_or_data) {
    const bool conforming_code = (type & 0xc) == 0xc;
    const unsigned cpl = sregs.cs.dpl, rpl = selector & 3;
    if (!conforming_code && (dpl < cpl || dpl < rpl)) return std::nullopt;
  } else {
    // System descriptors LSL accepts: LDT and available/busy TSS; the 16-bit
    // TSS types only outside 64-bit mode.
    const bool accepted = type == 2 || type == 9 || type == 11 || (!long_mode && (type == 1 || type == 3));
    if (!accepted) return std::nullopt;
  }
  const uint32_t raw_limit = static_cast<uint32_t>((descriptor & 0xffff) | ((descriptor >> 32) & 0xf0000));
  const bool granular = (descriptor >> 55) & 1;
  return granular ? (raw_limit << 12) | 0xfff : raw_limit;
}

}  // namespace

EmulationResult emulate_instruction(const kvm_regs& regs, const kvm_sregs& sregs, const GuestMemory& memory,
                                    uint16_t fpu_status, unsigned physical_address_bits) {
  EmulationResult result;
  const PagingState paging = paging_of(sregs, physical_address_bits);
  result.regs = regs;
  const uint64_t linear = code_linear_address(sregs, regs.rip);
  const GuestAccess fetch = guest_access(regs, sregs, true);
  std::optional<LinearFault> fetch_fault;
  const auto decoded = decode_at(memory, sregs, paging, linear, &fetch, &fetch_fault);
  if (!decoded) {
    if (fetch_fault && fetch_fault->error_code) {
      // The fetch itself faults: the #PF the CPU raises (SDM 4.7).
      result.kind = EmulationResult::Kind::RaiseException;
      result.exception = kPageFault;
      result.error_code = *fetch_fault->error_code;
      result.fault_address = fetch_fault->address;
      result.instruction = "(instruction fetch faults at this address)";
      return result;
    }
    result.kind = EmulationResult::Kind::Unreadable;
    result.instruction = "(no decodable instruction in guest RAM at this address)";
    return result;
  }
  result.instruction = describe(*decoded, linear);
  const auto& instruction = decoded->instruction;
  const uint64_t next_rip = (regs.rip + instruction.length) & instruction_pointer_mask(sregs);
  const auto raise = [&](uint8_t vector, bool trap) {
    result.kind = EmulationResult::Kind::RaiseException;
    result.exception = vector;
    if (trap) result.regs.rip = next_rip;  // traps report the next instruction (SDM Vol. 3A 6.5)
    return result;
  };
  const auto done = [&] {
    result.kind = EmulationResult::Kind::Emulated;
    result.regs.rip = next_rip;
    return result;
  };
  // A fault on an operand: raised at the instruction, with its error code.
  const auto fault = [&](const Fault& raised) {
    result.kind = EmulationResult::Kind::RaiseException;
    result.exception = raised.vector;
    result.error_code = raised.error_code;
    result.fault_address = raised.address;
    return result;
  };

  switch (instruction.mnemonic) {
    case ZYDIS_MNEMONIC_INT3:
      return raise(kBreakpoint, true);

    case ZYDIS_MNEMONIC_FWAIT:
      // FWAIT raises #MF if an unmasked x87 exception is pending, else does nothing.
      if (fpu_status & kFpuErrorSummary) return raise(kMathFault, false);
      return done();

    case ZYDIS_MNEMONIC_CLAC:
    case ZYDIS_MNEMONIC_STAC:
      // #UD outside CPL 0 or without CR4.SMAP (SDM Vol. 2A, CLAC/STAC).
      if (!(sregs.cr4 & kCr4Smap) || sregs.cs.dpl != 0) return raise(kInvalidOpcode, false);
      if (instruction.mnemonic == ZYDIS_MNEMONIC_STAC) result.regs.rflags |= kFlagAc;
      else result.regs.rflags &= ~kFlagAc;
      return done();

    case ZYDIS_MNEMONIC_POPCNT: {
      const auto& destination = decoded->operands[0];
      const auto source = read_operand(*decoded, decoded->operands[1], regs, sregs, paging, memory);
      if (source.fault) return fault(*source.fault);
      if (!source.value || destination.type != ZYDIS_OPERAND_TYPE_REGISTER) break;
      if (!write_register(result.regs, destination.reg.value, static_cast<uint64_t>(std::popcount(*source.value)), destination.size)) break;
      // ZF = (source == 0); OF, SF, AF, CF and PF are cleared (SDM Vol. 2B, POPCNT).
      result.regs.rflags &= ~(kFlagOf | kFlagSf | kFlagZf | kFlagAf | kFlagCf | kFlagPf);
      if (*source.value == 0) result.regs.rflags |= kFlagZf;
      return done();
    }

    case ZYDIS_MNEMONIC_LSL: {
      // Linux reads its CPU number this way in paranoid entry (NMI, #MC).
      const auto& destination = decoded->operands[0];
      const auto selector = read_operand(*decoded, decoded->operands[1], regs, sregs, paging, memory);
      if (selector.fault) return fault(*selector.fault);
      if (!selector.value || destination.type != ZYDIS_OPERAND_TYPE_REGISTER) break;
      const bool long_mode = machine_mode(sregs) == ZYDIS_MACHINE_MODE_LONG_64;
      const auto limit = segment_limit_for_lsl(static_cast<uint16_t>(*selector.value), sregs, paging, memory, long_mode);
      result.regs.rflags &= ~kFlagZf;
      if (limit) {
        if (!write_register(result.regs, destination.reg.value, *limit, destination.size)) break;
        result.regs.rflags |= kFlagZf;
      }
      return done();
    }

    default:
      break;
  }
  result.kind = EmulationResult::Kind::Unsupported;
  return result;
}

std::optional<uint64_t> rip_past_hlt_after_sti(const kvm_regs& regs, const kvm_sregs& sregs, const GuestMemory& memory,
                                               unsigned physical_address_bits) {
  constexpr uint8_t  kSti = 0xfb, kHlt = 0xf4;
  constexpr uint64_t kFlagVm = 1u << 17;
  // HLT below CPL 0, or in virtual-8086 mode, raises #GP instead (SDM Vol. 2A, HLT).
  const bool protected_mode = (sregs.cr0 & kCr0Pe) != 0;
  if (protected_mode && (sregs.cs.dpl != 0 || (regs.rflags & kFlagVm) != 0)) return std::nullopt;
  const uint64_t mask = instruction_pointer_mask(sregs);
  const uint64_t ip = regs.rip & mask;
  if (ip == 0) return std::nullopt;  // the STI would lie outside the segment
  uint8_t bytes[2] = {};
  if (!read_linear(memory, paging_of(sregs, physical_address_bits), code_linear_address(sregs, ip - 1), bytes)) return std::nullopt;
  if (bytes[0] != kSti || bytes[1] != kHlt) return std::nullopt;
  return (ip + 1) & mask;
}

std::string disassemble_at_rip(const kvm_regs& regs, const kvm_sregs& sregs, const GuestMemory& memory, int count) {
  std::string text;
  const PagingState paging = paging_of(sregs, kMaxPhysicalAddressBits);  // a report's read: no checks
  uint64_t linear = code_linear_address(sregs, regs.rip);
  for (int i = 0; i < count; ++i) {
    const auto decoded = decode_at(memory, sregs, paging, linear);
    char address[24];
    std::snprintf(address, sizeof address, "%016llx", static_cast<unsigned long long>(linear));
    if (!decoded) {
      text += std::string(i == 0 ? "  => " : "     ") + address + ": (not readable or not decodable)\n";
      break;
    }
    text += std::string(i == 0 ? "  => " : "     ") + address + ": " + describe(*decoded, linear) + "\n";
    linear += decoded->instruction.length;
  }
  return text;
}

}  // namespace ember
