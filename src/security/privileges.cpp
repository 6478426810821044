#include "security/privileges.h"

#include <cap-ng.h>
#include <grp.h>
#include <sys/prctl.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "base/log.h"

namespace ember {

Status drop_privileges(const std::optional<RunAs>& run_as) {
  // Only a process with CAP_SETPCAP may shrink its bounding set; one without
  // (an ordinary user) drops what it has and keeps the bounding set, which
  // no_new_privs makes unusable anyway.
  capng_get_caps_process();
  const bool may_clear_bounding = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP) != 0;
  const bool may_set_groups = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETGID) != 0;
  const bool may_change_ids = capng_have_capability(CAPNG_EFFECTIVE, CAP_SETUID) != 0 && may_set_groups;
  capng_clear(CAPNG_SELECT_BOTH);
  if (run_as) {
    // Capabilities, not uid 0, are what changing ids takes: root has them,
    // and so does a user given them as ambient capabilities.
    if (!may_change_ids) return Error{"--user needs CAP_SETUID and CAP_SETGID (root has them); ember runs without them"};
    const auto flags = static_cast<capng_flags_t>(CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
    if (const int rc = capng_change_id(static_cast<int>(run_as->uid), static_cast<int>(run_as->gid), flags); rc != 0) {
      return Error{"cannot become uid " + std::to_string(run_as->uid) + ", gid " + std::to_string(run_as->gid) +
                   " (libcap-ng capng_change_id returned " + std::to_string(rc) + ")"};
    }
  } else {
    // Without --user the uid stays, but supplementary groups go where they
    // can: a group such as docker or disk would otherwise give a
    // compromised ember what the group reaches.
    // A user namespace may forbid setgroups (/proc/self/setgroups "deny",
    // as `unshare -r` sets it): ember then keeps the groups and says so.
    if (may_set_groups && ::setgroups(0, nullptr) != 0) {
      log::warning(std::string("keeping supplementary groups: setgroups failed: ") + std::strerror(errno));
    }
    if (const int rc = capng_apply(may_clear_bounding ? CAPNG_SELECT_BOTH : CAPNG_SELECT_CAPS); rc != 0) {
      return Error{"cannot drop capabilities (libcap-ng capng_apply returned " + std::to_string(rc) + ")"};
    }
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Error{std::string("cannot set no_new_privs: ") + std::strerror(errno)};
  }
  return {};
}

}  // namespace ember
