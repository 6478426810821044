// Least privilege. Once ember holds every file descriptor it needs (/dev/kvm,
// the VM and VCPUs, images, the console file), nothing it does needs a
// capability, so it drops them all before the guest runs, sets
// no_new_privs, and optionally becomes an unprivileged user.
#pragma once

#include <sys/types.h>

#include <optional>

#include "base/result.h"

namespace ember {

struct RunAs {
  uid_t uid;
  gid_t gid;
};

// Clears the effective, permitted and inheritable capability sets (and the
// bounding set where the process may change it), sets PR_SET_NO_NEW_PRIVS,
// and with `run_as` switches group and user first, dropping supplementary
// groups. Applies to the calling thread and every thread it starts later,
// so it runs before ember starts any thread.
Status drop_privileges(const std::optional<RunAs>& run_as);

}  // namespace ember
