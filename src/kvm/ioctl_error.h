// Errors from KVM: which call failed (the ioctl's name, or "open"/"mmap")
// and its errno, beside the sentence people read. Callers branch on the
// call and errno (EINTR from KVM_RUN, ENOENT for a missing /dev/kvm).
#pragma once

#include <cerrno>
#include <cstring>
#include <string>

#include "base/result.h"

namespace ember::kvm {

struct KvmError {
  std::string call;          // "KVM_RUN", "KVM_SET_MSRS", "open", ...
  int         error_number;  // errno; 0 when the call returned but refused (a short KVM_SET_MSRS)
  std::string message;
  operator Error() const { return Error{message}; }
};
template <class T>
using KvmResult = Result<T, KvmError>;
using KvmStatus = Result<void, KvmError>;

// "KVM_RUN failed: Invalid argument (errno 22)". Call right after the failing
// ioctl, before anything else can change errno.
inline KvmError ioctl_error(const char* name, int error_number = errno) {
  return KvmError{name, error_number,
                  std::string(name) + " failed: " + std::strerror(error_number) + " (errno " + std::to_string(error_number) + ")"};
}

}  // namespace ember::kvm
