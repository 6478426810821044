#pragma once

#include "base/result.h"
#include "kvm/vcpu.h"

namespace ember {

// MSRs firmware would have set before handing over (see msr_setup.cpp).
Status set_boot_msrs(kvm::Vcpu& vcpu, bool bootstrap_processor);

}  // namespace ember
