#pragma once

#include <string>

#include "kvm/vcpu.h"

namespace ember {

// A multi-line dump of the VCPU's general, control and segment registers for
// crash reports. Never fails: unreadable registers are said to be so.
std::string register_dump(const kvm::Vcpu& vcpu);

}  // namespace ember
