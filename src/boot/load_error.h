// Why a kernel could not be loaded, for callers that branch on it (the
// machine, tests); the message is the sentence people read after the
// kernel's path ("kernel 'K' is truncated: ...").
#pragma once

#include "base/result.h"

namespace ember::boot {

enum class LoadFault {
  kUnknownFormat,     // no bzImage, multiboot or ELF header
  kTruncated,         // the file ends before what its headers describe
  kUnsupported,       // a real format or feature ember does not boot
  kInconsistent,      // headers that contradict themselves (addresses, checksums, entry points)
  kDoesNotFit,        // the kernel or its boot data needs more guest RAM than there is
  kOverlapsReserved,  // it would load over what ember keeps below 1 MiB
  kBadInput,          // the command line or modules the user gave
};
using LoadError = CodedError<LoadFault>;
template <class T>
using LoadResult = Result<T, LoadError>;
using LoadStatus = Result<void, LoadError>;

}  // namespace ember::boot
