// Reading the host files a user names (kernel, initrd): every way a path can be
// wrong becomes one sentence that names the role, the path and the reason.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.h"

namespace ember {

// Reads the whole regular file at `path`. `role` names it in errors ("kernel").
// Refuses missing, unreadable, non-regular and empty files, and files larger
// than `max_size` bytes.
Result<std::vector<uint8_t>> read_whole_file(const std::string& path, const std::string& role,
                                             uint64_t max_size);

}  // namespace ember
