#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "base/result.h"

namespace ember::kvm {

// "KVM_RUN failed: Invalid argument (errno 22)". Call right after the failing
// ioctl, before anything else can change errno.
inline Error ioctl_error(const char* name, int error_number = errno) {
  return Error{std::string(name) + " failed: " + std::strerror(error_number) + " (errno " +
               std::to_string(error_number) + ")"};
}

}  // namespace ember::kvm
