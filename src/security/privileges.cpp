#include "security/privileges.h"

#include <cap-ng.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

#include "base/log.h"

namespace ember {
namespace {

// capget(2)/capset(2) with version 3: each set is two 32-bit words.
using CapabilityWords = __user_cap_data_struct[_LINUX_CAPABILITY_U32S_3];

// The calling thread's effective set, one bit per capability.
Result<uint64_t> effective_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  CapabilityWords words{};
  if (::syscall(SYS_capget, &header, words) != 0) return Error{std::string("cannot read ember's capabilities: ") + std::strerror(errno)};
  return uint64_t{words[0].effective} | (uint64_t{words[1].effective} << 32);
}

bool holds(uint64_t set, int capability) { return ((set >> capability) & 1) != 0; }

// Every capability out of the bounding set, one PR_CAPBSET_DROP each; the
// kernel answers EINVAL past the last capability it knows.
Status clear_bounding_set() {
  for (int capability = 0; capability < 64; ++capability) {
    if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) == 0) continue;
    if (errno == EINVAL && capability > CAP_SETPCAP) return {};
    return Error{"cannot drop capability " + std::to_string(capability) + " from the bounding set: " + std::strerror(errno)};
  }
  return {};
}

// Empty effective, permitted and inheritable sets; the ambient set, which
// lies within permitted and inheritable, empties with them.
Status clear_capabilities() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  CapabilityWords none{};
  if (::syscall(SYS_capset, &header, none) != 0) return Error{std::string("cannot drop capabilities: ") + std::strerror(errno)};
  return {};
}

}  // namespace

Status drop_privileges(const std::optional<RunAs>& run_as) {
  // Only a process with CAP_SETPCAP may shrink its bounding set; one without
  // (an ordinary user) drops what it has and keeps the bounding set, which
  // no_new_privs makes unusable anyway.
  auto effective = effective_capabilities();
  if (!effective) return effective.error();
  const bool may_clear_bounding = holds(*effective, CAP_SETPCAP);
  const bool may_set_groups = holds(*effective, CAP_SETGID);
  const bool may_change_ids = holds(*effective, CAP_SETUID) && may_set_groups;
  if (run_as) {
    // Capabilities, not uid 0, are what changing ids takes: root has them,
    // and so does a user given them as ambient capabilities. libcap-ng
    // changes the ids: it keeps the capabilities setuid needs across the
    // change and drops them after it.
    if (!may_change_ids) return Error{"--user needs CAP_SETUID and CAP_SETGID (root has them); ember runs without them"};
    capng_get_caps_process();
    capng_clear(CAPNG_SELECT_BOTH);
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
    // Dropping needs no library: a handful of system calls, where libcap-ng
    // read /proc/self/status three times (10 ms of a restore in the nested tier).
    if (may_clear_bounding) {
      if (auto cleared = clear_bounding_set(); !cleared) return cleared;
    }
    if (auto cleared = clear_capabilities(); !cleared) return cleared;
  }
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Error{std::string("cannot set no_new_privs: ") + std::strerror(errno)};
  }
  return {};
}

}  // namespace ember
