// Reading the host files a user names (kernel, initrd): every way a path can be
// wrong becomes one sentence that names the role, the path and the reason.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "base/file_descriptor.h"
#include "base/result.h"

namespace ember {

// An allocator whose value-initialisation leaves bytes unset: a buffer that
// read() fills at once need not be zeroed first. Zeroing a 17 MiB vmlinux
// was a fifth of ember's own instructions in a profiled Linux boot.
template <class T>
struct UninitializedAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitializedAllocator<U>;
  };
  UninitializedAllocator() = default;
  template <class U>
  UninitializedAllocator(const UninitializedAllocator<U>&) noexcept {}
  template <class U>
  void construct(U* p) noexcept {
    ::new (static_cast<void*>(p)) U;  // default-, not value-initialised
  }
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};

using FileBytes = std::vector<uint8_t, UninitializedAllocator<uint8_t>>;

// A regular file opened for reading, with every check read_whole_file makes,
// and its size then. For inputs read in parts: a kernel's loader reads only
// the pieces it loads, straight into guest RAM (boot/image_bytes.h).
struct OpenedFile {
  FileDescriptor fd;
  uint64_t       size = 0;
};
Result<OpenedFile> open_input_file(const std::string& path, const std::string& role, uint64_t max_size);

// The first `limit` bytes of `file` (all of it if smaller), read from its start.
Result<FileBytes> read_opened_file(const OpenedFile& file, const std::string& path, const std::string& role, uint64_t limit);

// Fills `into` with the bytes of `fd` from `offset` on, in pieces a stop
// signal can interrupt. The error reads after the file's name: "shrank while
// it was being read", "cannot be read: ...".
Result<void> read_file_range(int fd, uint64_t offset, std::span<uint8_t> into);

// Reads the whole regular file at `path`. `role` names it in errors ("kernel").
// Refuses missing, unreadable, non-regular and empty files, and files larger
// than `max_size` bytes.
Result<FileBytes> read_whole_file(const std::string& path, const std::string& role, uint64_t max_size);

// Which file, in which version: its device and inode, and its size and
// modification time (a snapshot's disks must be the files they were).
struct FileIdentity {
  uint64_t device = 0, inode = 0, size = 0, modified_ns = 0;
  bool operator==(const FileIdentity&) const = default;
};
inline FileIdentity file_identity(const struct stat& info) {
  return {static_cast<uint64_t>(info.st_dev), static_cast<uint64_t>(info.st_ino), static_cast<uint64_t>(info.st_size),
          static_cast<uint64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(info.st_mtim.tv_nsec)};
}

}  // namespace ember
