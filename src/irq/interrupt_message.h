// An interrupt in flight between APICs: what an ICR write, an IOAPIC
// redirection entry or an MSI message says (Intel SDM Vol. 3A 11.6.1, 11.11).
#pragma once

#include <cstdint>

namespace ember {

enum class DeliveryMode : uint8_t {
  Fixed = 0,
  LowestPriority = 1,
  Smi = 2,
  Nmi = 4,
  Init = 5,
  StartUp = 6,
  ExtInt = 7,
};

// NMI and INIT end a halt even with interrupts disabled (SDM Vol. 2A, HLT).
constexpr bool wakes_a_halted_cpu(DeliveryMode mode) { return mode == DeliveryMode::Nmi || mode == DeliveryMode::Init; }

enum class Shorthand : uint8_t { None = 0, Self = 1, AllIncludingSelf = 2, AllExcludingSelf = 3 };

struct InterruptMessage {
  uint8_t      vector = 0;
  DeliveryMode mode = DeliveryMode::Fixed;
  bool         logical = false;          // destination mode
  bool         level_triggered = false;  // its EOI goes back to the IOAPIC
  Shorthand    shorthand = Shorthand::None;
  uint32_t     destination = 0;          // APIC ID or logical destination
  uint32_t     source_vcpu = 0;          // for the self shorthands
  bool         x2apic = false;           // 32-bit destinations, 0xffffffff broadcast
};

}  // namespace ember
