#include "boot/image_bytes.h"

#include <algorithm>
#include <cstring>

#include "base/file.h"

namespace ember::boot {

LoadStatus ImageBytes::copy(uint64_t offset, std::span<uint8_t> into) const {
  // Past size_ there is nothing; below it, what the head lacks is in the
  // file (in_memory() images have no lack).
  if (offset > size_ || into.size() > size_ - offset) return LoadError{LoadFault::kTruncated, "is truncated: a read runs past its end"};
  const uint64_t from_head = offset < head_.size() ? std::min<uint64_t>(into.size(), head_.size() - offset) : 0;
  if (from_head > 0) std::memcpy(into.data(), head_.data() + offset, from_head);
  if (from_head == into.size()) return {};
  if (auto read = read_file_range(fd_, offset + from_head, into.subspan(from_head)); !read) {
    return LoadError{LoadFault::kTruncated, read.error().message};
  }
  return {};
}

}  // namespace ember::boot
