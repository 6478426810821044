#include "virtio/disk_image.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "base/log.h"

namespace ember::virtio {

Result<DiskImage> DiskImage::open(const std::string& path, bool read_only) {
  const std::string what = "disk '" + path + "'";
  // O_NONBLOCK so a FIFO cannot hold the open (it is refused below); it
  // is cleared again once the file is known to be a disk.
  FileDescriptor fd{::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_NONBLOCK | O_CLOEXEC)};
  if (!fd.valid()) {
    return Error{what + " cannot be opened " + (read_only ? "for reading" : "for reading and writing") + ": " + std::strerror(errno)};
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return Error{what + " cannot be examined: " + std::strerror(errno)};
  uint64_t bytes = 0;
  if (S_ISREG(info.st_mode)) {
    bytes = static_cast<uint64_t>(info.st_size);
  } else if (S_ISBLK(info.st_mode)) {
    if (::ioctl(fd.get(), BLKGETSIZE64, &bytes) != 0) return Error{what + " is a block device whose size cannot be read: " + std::strerror(errno)};
  } else {
    return Error{what + " is not a regular file or a block device"};
  }
  if (!set_blocking(fd.get())) {
    return Error{what + " cannot be set to blocking I/O: " + std::strerror(errno)};
  }
  if (bytes < kSectorSize) return Error{what + " is smaller than one 512-byte sector"};
  if (bytes % kSectorSize != 0) {
    log::warning(what + " is not a whole number of 512-byte sectors; the guest will not see its last " +
                 std::to_string(bytes % kSectorSize) + " bytes");
  }

  // Open-file-description locks belong to this open file, not the process,
  // so they are not dropped when another descriptor of the file is closed.
  struct flock lock {};
  lock.l_type = read_only ? F_RDLCK : F_WRLCK;
  lock.l_whence = SEEK_SET;
  if (::fcntl(fd.get(), F_OFD_SETLK, &lock) != 0) {
    if (errno == EAGAIN || errno == EACCES) {
      return Error{what + " is in use by another process, which holds a lock on it; two VMMs must not share a writable disk"};
    }
    return Error{what + " cannot be locked: " + std::strerror(errno)};
  }

  char serial[21];
  std::snprintf(serial, sizeof serial, "%llx-%llx", static_cast<unsigned long long>(info.st_dev),
                static_cast<unsigned long long>(info.st_ino));
  return DiskImage{std::move(fd), bytes / kSectorSize, read_only, path, serial};
}

}  // namespace ember::virtio
