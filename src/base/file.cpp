#include "base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/file_descriptor.h"
#include "base/strings.h"

namespace ember {

namespace {

std::string failure(const std::string& role, const std::string& path, const std::string& why) { return role + " '" + path + "' " + why; }

}  // namespace

Result<OpenedFile> open_input_file(const std::string& path, const std::string& role, uint64_t max_size) {
  const auto fail = [&](const std::string& why) { return Error{failure(role, path, why)}; };
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a
  // writer, forever; it is refused below as not a regular file.
  FileDescriptor fd{::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC)};
  if (!fd.valid()) {
    if (errno == ENOENT) return fail("does not exist");
    return fail(std::string("cannot be opened: ") + std::strerror(errno));
  }
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) return fail(std::string("cannot be examined: ") + std::strerror(errno));
  if (S_ISDIR(info.st_mode)) return fail("is a directory, not a file");
  if (!S_ISREG(info.st_mode)) return fail("is not a regular file");
  if (info.st_size == 0) return fail("is empty");
  const auto size = static_cast<uint64_t>(info.st_size);
  if (size > max_size) {
    return fail("is " + format_size(size) + ", larger than the guest's " + format_size(max_size) + " of RAM");
  }
  return OpenedFile{std::move(fd), size};
}

Result<FileBytes> read_opened_file(const OpenedFile& file, const std::string& path, const std::string& role, uint64_t limit) {
  FileBytes data(std::min(file.size, limit));
  if (auto read = read_file_range(file.fd.get(), 0, data); !read) return Error{failure(role, path, read.error().message)};
  return data;
}

Result<void> read_file_range(int fd, uint64_t offset, std::span<uint8_t> into) {
  size_t done = 0;
  while (done < into.size()) {
    // At most 64 MiB per read: a signal handler runs only once a read of a
    // regular file returns, and a stop signal during start-up must not wait
    // for a whole huge kernel (base/stop_signals.h).
    constexpr size_t kChunk = 64 << 20;
    const ssize_t got = ::pread(fd, into.data() + done, std::min(kChunk, into.size() - done), static_cast<off_t>(offset + done));
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) return Error{std::string("cannot be read: ") + std::strerror(errno)};
    if (got == 0) return Error{"shrank while it was being read"};
    done += static_cast<size_t>(got);
  }
  return {};
}

Result<FileBytes> read_whole_file(const std::string& path, const std::string& role, uint64_t max_size) {
  auto file = open_input_file(path, role, max_size);
  if (!file) return file.error();
  return read_opened_file(*file, path, role, file->size);
}

}  // namespace ember
