// What a VCPU needs of the interrupt controller behind its LINT0 in ExtINT
// (virtual-wire) mode: whether its INT output is asserted, and the CPU's
// interrupt acknowledge cycle that yields the vector (Intel SDM Vol. 3A
// 11.5.1, "ExtINT"). On ember's PC that is the 8259 pair (devices/pic8259.h);
// the VCPU loop sees only this.
#pragma once

#include <cstdint>
#include <optional>

namespace ember {

class ExtIntSource {
 public:
  virtual ~ExtIntSource() = default;
  // Whether the INT output is asserted.
  virtual bool interrupt_pending() = 0;
  // The vector to inject (IRR -> ISR); nullopt if the request went away
  // meanwhile.
  virtual std::optional<uint8_t> acknowledge() = 0;
};

}  // namespace ember
