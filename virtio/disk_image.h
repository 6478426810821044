// A raw disk image file opened for a virtio-blk device: its size in
// sectors, its I/O, and a lock so that two VMMs cannot both write it (or one
// read it while another writes), as QEMU's image locking does.
//
// Access::kOverlay: the guest sees a writable disk whose writes go to a
// private copy-on-write layer, discarded at exit (README, "Devices"). The image
// itself is opened read-only under a read lock, so any number of runs can
// share it and none changes it. The layer is an unlinked temporary file
// (O_TMPFILE, in $TMPDIR or /var/tmp) of the disk's size, sparse, with one
// bit per 512-byte sector saying whether the sector was written since
// start: virtio-blk transfers whole sectors, so no write ever needs the
// image's old bytes. The file goes with ember, even on SIGKILL.
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/file.h"
#include "base/file_descriptor.h"
#include "base/result.h"

namespace ember::virtio {

class DiskImage final {
 public:
  static constexpr uint64_t kSectorSize = 512;  // virtio 1.2 §5.2.6: sectors are 512 bytes
  enum class Access { kReadWrite, kReadOnly, kOverlay };

  // Opens `path` read-write (or read-only) and takes an open-file-description
  // lock: a write lock for read-write, a read lock for read-only and
  // overlay. Errors name the file and the reason in one sentence.
  static Result<DiskImage> open(const std::string& path, Access access);

  uint64_t           sectors() const { return sectors_; }
  // Whether the guest may not write (an overlay disk is writable).
  bool               read_only() const { return access_ == Access::kReadOnly; }
  bool               overlay() const { return overlay_ != nullptr; }
  // Whether the guest wrote to the overlay (its writes live only in this
  // process).
  bool               overlay_written() const {
    return overlay_ != nullptr && overlay_->any_written.load(std::memory_order_acquire);
  }
  const std::string& path() const { return path_; }
  // The file as it was opened (fstat of the descriptor ember uses).
  const FileIdentity& identity() const { return identity_; }
  // 20 bytes at most (VIRTIO_BLK_ID_BYTES): from the file's device and inode,
  // so it stays the same from one run to the next.
  const std::string& serial() const { return serial_; }

  // Whole-sector I/O at `offset` (inside the disk, as the request parser
  // checked), resuming after short transfers. false with errno set on an
  // error. Safe from several threads at once (one worker per queue).
  bool read(std::vector<iovec> pieces, uint64_t offset);
  bool write(std::vector<iovec> pieces, uint64_t offset);
  // Zeroes (WRITE_ZEROES; `unmap`: the space may be freed) or drops
  // (DISCARD, advice only) `length` bytes at `offset`.
  bool zero(uint64_t offset, uint64_t length, bool unmap);
  void discard(uint64_t offset, uint64_t length);
  // Makes every completed write durable (nothing to do for an overlay,
  // whose writes are discarded anyway).
  bool flush();

 private:
  struct Overlay {
    Overlay() = default;
    Overlay(const Overlay&) = delete;
    Overlay& operator=(const Overlay&) = delete;
    ~Overlay();
    FileDescriptor file;
    // One bit per sector, set once its data is in `file`: an anonymous
    // mapping, so the pages of a disk's untouched parts are never backed
    // (a 1 TiB disk has a 256 MiB bitmap), and not inherited by the helper
    // processes ember forks (MADV_DONTFORK).
    uint64_t* written = nullptr;
    size_t    words = 0;
    std::atomic<bool> any_written{false};
    bool is_written(uint64_t sector) const {
      return (std::atomic_ref<uint64_t>{written[sector / 64]}.load(std::memory_order_acquire) >> (sector % 64)) & 1;
    }
    void mark_written(uint64_t first_sector, uint64_t count);
  };

  DiskImage(FileDescriptor fd, uint64_t sectors, Access access, std::string path, std::string serial, FileIdentity identity,
            std::unique_ptr<Overlay> overlay)
      : fd_{std::move(fd)}, sectors_{sectors}, access_{access}, path_{std::move(path)}, serial_{std::move(serial)},
        identity_{identity}, overlay_{std::move(overlay)} {}
  static Result<std::unique_ptr<Overlay>> make_overlay(uint64_t sectors, const std::string& what);

  FileDescriptor           fd_;
  uint64_t                 sectors_;
  Access                   access_;
  std::string              path_;
  std::string              serial_;
  FileIdentity             identity_;
  std::unique_ptr<Overlay> overlay_;
};

}  // namespace ember::virtio
