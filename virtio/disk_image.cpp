#include "virtio/disk_image.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <limits.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/log.h"

namespace ember::virtio {
namespace {

// preadv/pwritev the whole of `pieces` at `offset`, resuming after short
// transfers; false on an error or end of file.
template <class Transfer>
bool transfer_all(std::vector<iovec> pieces, uint64_t offset, Transfer transfer) {
  size_t first = 0;
  while (first < pieces.size()) {
    const int count = static_cast<int>(std::min<size_t>(pieces.size() - first, IOV_MAX));
    const ssize_t done = transfer(pieces.data() + first, count, static_cast<off_t>(offset));
    if (done < 0 && errno == EINTR) continue;
    if (done == 0) errno = EIO;  // end of file inside the disk: the image shrank
    if (done <= 0) return false;
    offset += static_cast<uint64_t>(done);
    size_t left = static_cast<size_t>(done);
    while (first < pieces.size() && left >= pieces[first].iov_len) left -= pieces[first++].iov_len;
    if (left > 0) {
      pieces[first].iov_base = static_cast<uint8_t*>(pieces[first].iov_base) + left;
      pieces[first].iov_len -= left;
    }
  }
  return true;
}

bool read_all(int fd, std::vector<iovec> pieces, uint64_t offset) {
  return transfer_all(std::move(pieces), offset, [fd](const iovec* v, int n, off_t at) { return ::preadv(fd, v, n, at); });
}
bool write_all(int fd, std::vector<iovec> pieces, uint64_t offset) {
  return transfer_all(std::move(pieces), offset, [fd](const iovec* v, int n, off_t at) { return ::pwritev(fd, v, n, at); });
}

// The `length` bytes of `pieces` that start `skip` bytes in.
std::vector<iovec> slice(const std::vector<iovec>& pieces, uint64_t skip, uint64_t length) {
  std::vector<iovec> part;
  for (const iovec& piece : pieces) {
    if (length == 0) break;
    if (skip >= piece.iov_len) {
      skip -= piece.iov_len;
      continue;
    }
    const size_t take = static_cast<size_t>(std::min<uint64_t>(piece.iov_len - skip, length));
    part.push_back({static_cast<uint8_t*>(piece.iov_base) + skip, take});
    length -= take;
    skip = 0;
  }
  return part;
}

uint64_t total_bytes(const std::vector<iovec>& pieces) {
  uint64_t total = 0;
  for (const iovec& piece : pieces) total += piece.iov_len;
  return total;
}

// Zeroes `length` bytes at `at`: a hole where the file system makes one
// (`unmap`), zeroed blocks where it can, written zeroes otherwise.
bool zero_range(int fd, uint64_t at, uint64_t length, bool unmap) {
  const int mode = FALLOC_FL_KEEP_SIZE | (unmap ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
  if (::fallocate(fd, mode, static_cast<off_t>(at), static_cast<off_t>(length)) == 0) return true;
  static const std::vector<uint8_t> zeroes(1 << 16, 0);
  for (uint64_t done = 0; done < length;) {
    const size_t piece = static_cast<size_t>(std::min<uint64_t>(length - done, zeroes.size()));
    const ssize_t wrote = ::pwrite(fd, zeroes.data(), piece, static_cast<off_t>(at + done));
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote <= 0) return false;
    done += static_cast<uint64_t>(wrote);
  }
  return true;
}

}  // namespace

Result<DiskImage> DiskImage::open(const std::string& path, Access access) {
  const std::string what = "disk '" + path + "'";
  const bool read_only = access != Access::kReadWrite;  // the image itself
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
  std::unique_ptr<Overlay> overlay;
  if (access == Access::kOverlay) {
    auto made = make_overlay(bytes / kSectorSize, what);
    if (!made) return made.error();
    overlay = std::move(*made);
  }
  return DiskImage{std::move(fd), bytes / kSectorSize, access, path, serial, file_identity(info), std::move(overlay)};
}

Result<std::unique_ptr<DiskImage::Overlay>> DiskImage::make_overlay(uint64_t sectors, const std::string& what) {
  const char* chosen = std::getenv("TMPDIR");
  const std::string directory = chosen != nullptr && *chosen != '\0' ? chosen : "/var/tmp";
  FileDescriptor file{::open(directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600)};
  if (!file.valid() && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL)) {
    // A file system without O_TMPFILE: a named file, unlinked at once.
    std::string name = directory + "/ember-overlay-XXXXXX";
    file = FileDescriptor{::mkostemp(name.data(), O_CLOEXEC)};
    if (file.valid()) ::unlink(name.c_str());
  }
  if (!file.valid()) {
    return Error{what + ": cannot make its overlay file in " + directory + " (set TMPDIR to a writable directory): " +
                 std::strerror(errno)};
  }
  if (::ftruncate(file.get(), static_cast<off_t>(sectors * kSectorSize)) != 0) {
    return Error{what + ": cannot size its overlay file in " + directory + ": " + std::strerror(errno)};
  }
  auto overlay = std::make_unique<Overlay>();
  overlay->file = std::move(file);
  overlay->words = (sectors + 63) / 64;
  void* bitmap = ::mmap(nullptr, overlay->words * 8, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (bitmap == MAP_FAILED) return Error{what + ": cannot map its overlay's sector bitmap: " + std::strerror(errno)};
  (void)::madvise(bitmap, overlay->words * 8, MADV_DONTFORK);
  overlay->written = static_cast<uint64_t*>(bitmap);
  return overlay;
}

DiskImage::Overlay::~Overlay() {
  if (written != nullptr) ::munmap(written, words * 8);
}

void DiskImage::Overlay::mark_written(uint64_t first_sector, uint64_t count) {
  if (count != 0) any_written.store(true, std::memory_order_release);
  for (uint64_t sector = first_sector; sector < first_sector + count;) {
    const uint64_t bit = sector % 64, bits = std::min<uint64_t>(64 - bit, first_sector + count - sector);
    const uint64_t mask = (bits == 64 ? ~uint64_t{0} : ((uint64_t{1} << bits) - 1)) << bit;
    std::atomic_ref<uint64_t>{written[sector / 64]}.fetch_or(mask, std::memory_order_release);
    sector += bits;
  }
}

bool DiskImage::read(std::vector<iovec> pieces, uint64_t offset) {
  if (!overlay_) return read_all(fd_.get(), std::move(pieces), offset);
  // Runs of sectors from the same side: the overlay where written, else the image.
  const uint64_t total = total_bytes(pieces);
  for (uint64_t done = 0; done < total;) {
    const bool written = overlay_->is_written((offset + done) / kSectorSize);
    uint64_t end = done + kSectorSize;
    while (end < total && overlay_->is_written((offset + end) / kSectorSize) == written) end += kSectorSize;
    end = std::min(end, total);
    if (!read_all(written ? overlay_->file.get() : fd_.get(), slice(pieces, done, end - done), offset + done)) return false;
    done = end;
  }
  return true;
}

bool DiskImage::write(std::vector<iovec> pieces, uint64_t offset) {
  if (!overlay_) return write_all(fd_.get(), std::move(pieces), offset);
  const uint64_t total = total_bytes(pieces);
  if (!write_all(overlay_->file.get(), std::move(pieces), offset)) return false;
  overlay_->mark_written(offset / kSectorSize, (total + kSectorSize - 1) / kSectorSize);
  return true;
}

bool DiskImage::zero(uint64_t offset, uint64_t length, bool unmap) {
  if (!overlay_) return zero_range(fd_.get(), offset, length, unmap);
  // A hole in the overlay reads as zeroes, whatever the image holds there.
  if (!zero_range(overlay_->file.get(), offset, length, true)) return false;
  overlay_->mark_written(offset / kSectorSize, (length + kSectorSize - 1) / kSectorSize);
  return true;
}

void DiskImage::discard(uint64_t offset, uint64_t length) {
  // Advice only (§5.2.6.2); an overlay keeps what its sectors read as.
  if (overlay_ || read_only()) return;
  (void)::fallocate(fd_.get(), FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE, static_cast<off_t>(offset), static_cast<off_t>(length));
}

bool DiskImage::flush() {
  if (overlay_ || read_only()) return true;
  return ::fdatasync(fd_.get()) == 0;
}

}  // namespace ember::virtio
