// A boot input's bytes as a loader copies them into guest RAM: all of them
// already in memory, or an open file of which only the head is. From a file,
// a loader reads each piece it loads straight into guest RAM, so a vmlinux's
// symbols and debug sections (7 of the project kernel's 17.6 MB) are never
// read, and nothing is copied twice (bench/README.md, "Start-up and memory").
#pragma once

#include <concepts>
#include <cstdint>
#include <span>

#include "boot/load_error.h"

namespace ember::boot {

class ImageBytes {
 public:
  ImageBytes() = default;
  // All of it in memory (tests, multiboot kernels). Implicit, so a byte
  // vector can stand where an image is expected; never a temporary one,
  // which would be gone before the loader read it.
  ImageBytes(std::span<const uint8_t> bytes) : head_{bytes}, size_{bytes.size()} {}  // NOLINT(google-explicit-constructor)
  template <class Bytes>
    requires std::convertible_to<const Bytes&, std::span<const uint8_t>>
  ImageBytes(const Bytes& bytes) : ImageBytes(std::span<const uint8_t>(bytes)) {}  // NOLINT(google-explicit-constructor)
  template <class Bytes>
  ImageBytes(const Bytes&& bytes) = delete;
  // The file open at `fd` (kept open by the caller while loading), `size`
  // bytes long, whose first bytes are `head`.
  ImageBytes(std::span<const uint8_t> head, int fd, uint64_t size) : head_{head}, fd_{fd}, size_{size} {}

  uint64_t size() const { return size_; }
  bool     empty() const { return size_ == 0; }
  // The bytes at hand: all of them when in_memory().
  std::span<const uint8_t> head() const { return head_; }
  bool in_memory() const { return head_.size() == size_; }

  // Copies bytes [offset, offset + into.size()) into `into`. A range past
  // the end, or a file that shrank or cannot be read since it was opened, is
  // a LoadError that reads after the image's name ("shrank while ...").
  LoadStatus copy(uint64_t offset, std::span<uint8_t> into) const;

 private:
  std::span<const uint8_t> head_;
  int                      fd_ = -1;
  uint64_t                 size_ = 0;
};

}  // namespace ember::boot
