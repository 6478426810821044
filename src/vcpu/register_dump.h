#pragma once

#include <string>

#include "kvm/vcpu.h"

namespace ember {

// A multi-line dump of the VCPU's general, control and segment registers for
// crash reports. Never fails: unreadable registers are said to be so.
std::string register_dump(const kvm::Vcpu& vcpu);

// Whether the registers are those a processor has after RESET or INIT
// (Intel SDM Vol. 3A 10.1.1, Table 10-1; AMD APM Vol. 2 14.1.3): CS selector
// F000 with base FFFF0000 and RIP FFF0, the reset vector.
bool is_reset_state(const kvm_regs& regs, const kvm_sregs& sregs);

}  // namespace ember
