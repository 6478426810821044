// A raw disk image file opened for a virtio-blk device: its size in
// sectors, and a lock so that two VMMs cannot both write it (or one read it
// while another writes), as QEMU's image locking does.
#pragma once

#include <cstdint>
#include <string>

#include "base/file_descriptor.h"
#include "base/result.h"

namespace ember::virtio {

class DiskImage final {
 public:
  static constexpr uint64_t kSectorSize = 512;  // virtio 1.2 §5.2.6: sectors are 512 bytes

  // Opens `path` read-write (or read-only) and takes an open-file-description
  // lock: a write lock for read-write, a read lock for read-only. Errors name
  // the file and the reason in one sentence.
  static Result<DiskImage> open(const std::string& path, bool read_only);

  int                fd() const { return fd_.get(); }
  uint64_t           sectors() const { return sectors_; }
  bool               read_only() const { return read_only_; }
  const std::string& path() const { return path_; }
  // 20 bytes at most (VIRTIO_BLK_ID_BYTES): from the file's device and inode,
  // so it stays the same from one run to the next.
  const std::string& serial() const { return serial_; }

 private:
  DiskImage(FileDescriptor fd, uint64_t sectors, bool read_only, std::string path, std::string serial)
      : fd_{std::move(fd)}, sectors_{sectors}, read_only_{read_only}, path_{std::move(path)}, serial_{std::move(serial)} {}

  FileDescriptor fd_;
  uint64_t       sectors_;
  bool           read_only_;
  std::string    path_;
  std::string    serial_;
};

}  // namespace ember::virtio
