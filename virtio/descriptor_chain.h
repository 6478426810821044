// One request from a driver, as a device sees it: the buffers of a validated
// descriptor chain (virtio 1.2 §2.7.5), already turned into host views of
// guest RAM by the walker. Devices never see a guest address, only these
// views, through a ChainReader (driver-readable part) and a ChainWriter
// (device-writable part).
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

namespace ember::virtio {

// Its buffers are private: a device reaches them only through a ChainReader
// or ChainWriter (copies, or iovecs for host I/O), the one door to guest
// memory a request opens.
class DescriptorChain {
 public:
  uint16_t head = 0;  // returned in the used ring

  // For the walker (split_virtqueue.cpp) and tests that stand in for it:
  // the chain's next buffer, in chain order, the readable ones before the
  // writable ones (§2.7.4.2). The walker leaves out zero-length buffers and
  // keeps the total under 4 GiB.
  void add_readable(std::span<uint8_t> buffer) {
    readable_.push_back(buffer);
    readable_bytes_ += static_cast<uint32_t>(buffer.size());
  }
  void add_writable(std::span<uint8_t> buffer) {
    writable_.push_back(buffer);
    writable_bytes_ += static_cast<uint32_t>(buffer.size());
  }

  uint32_t readable_bytes() const { return readable_bytes_; }
  uint32_t writable_bytes() const { return writable_bytes_; }
  size_t   readable_buffers() const { return readable_.size(); }
  size_t   writable_buffers() const { return writable_.size(); }

 private:
  friend class ChainReader;
  friend class ChainWriter;
  std::vector<std::span<uint8_t>> readable_;
  std::vector<std::span<uint8_t>> writable_;
  uint32_t                        readable_bytes_ = 0;
  uint32_t                        writable_bytes_ = 0;
};

// A chain given back to the driver with how much the device wrote into it
// (a used ring element, §2.7.8).
struct UsedElement {
  uint16_t head;
  uint32_t written;
};

// Consumes a list of buffers front to back, without ever running past it.
class BufferCursor final {
 public:
  explicit BufferCursor(const std::vector<std::span<uint8_t>>& buffers, uint32_t total)
      : buffers_{buffers}, remaining_{total} {}

  uint32_t remaining() const { return remaining_; }

  // Copies the next out.size() bytes out of (or, for `in`, into) the buffers:
  // all of them, or nothing and false.
  bool copy_out(std::span<uint8_t> out) {
    if (out.size() > remaining_) return false;
    walk(out.size(), [&](std::span<uint8_t> piece, size_t done) { std::memcpy(out.data() + done, piece.data(), piece.size()); });
    return true;
  }
  bool copy_in(std::span<const uint8_t> in) {
    if (in.size() > remaining_) return false;
    walk(in.size(), [&](std::span<uint8_t> piece, size_t done) { std::memcpy(piece.data(), in.data() + done, piece.size()); });
    return true;
  }
  // The next `length` bytes as iovecs for readv/writev-style host I/O.
  std::optional<std::vector<iovec>> take(uint32_t length) {
    if (length > remaining_) return std::nullopt;
    std::vector<iovec> pieces;
    walk(length, [&](std::span<uint8_t> piece, size_t) { pieces.push_back({piece.data(), piece.size()}); });
    return pieces;
  }
  // Skips `length` bytes; false (and nothing skipped) if there are fewer.
  bool skip(uint32_t length) {
    if (length > remaining_) return false;
    walk(length, [](std::span<uint8_t>, size_t) {});
    return true;
  }

 private:
  template <class Visit>
  void walk(size_t length, Visit visit) {
    size_t done = 0;
    while (done < length) {
      const std::span<uint8_t> buffer = buffers_[index_];
      const size_t piece = std::min(buffer.size() - offset_, length - done);
      visit(buffer.subspan(offset_, piece), done);
      done += piece;
      offset_ += piece;
      if (offset_ == buffer.size()) {
        ++index_;
        offset_ = 0;
      }
    }
    remaining_ -= static_cast<uint32_t>(length);
  }

  const std::vector<std::span<uint8_t>>& buffers_;
  size_t                                 index_ = 0;
  size_t                                 offset_ = 0;
  uint32_t                               remaining_;
};

// The driver-readable bytes of a chain, in order.
class ChainReader final {
 public:
  explicit ChainReader(const DescriptorChain& chain) : cursor_{chain.readable_, chain.readable_bytes_} {}
  uint32_t remaining() const { return cursor_.remaining(); }
  bool     read(std::span<uint8_t> out) { return cursor_.copy_out(out); }
  template <class T>
  std::optional<T> read_object() {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    if (!read({reinterpret_cast<uint8_t*>(&value), sizeof(T)})) return std::nullopt;
    return value;
  }
  std::optional<std::vector<iovec>> take(uint32_t length) { return cursor_.take(length); }
  bool skip(uint32_t length) { return cursor_.skip(length); }

 private:
  BufferCursor cursor_;
};

// The device-writable bytes of a chain, in order; counts what was written,
// which is what the used ring reports (§2.7.8).
class ChainWriter final {
 public:
  explicit ChainWriter(const DescriptorChain& chain)
      : cursor_{chain.writable_, chain.writable_bytes_}, capacity_{chain.writable_bytes_} {}
  uint32_t remaining() const { return cursor_.remaining(); }
  uint32_t written() const { return capacity_ - cursor_.remaining(); }
  bool     write(std::span<const uint8_t> in) { return cursor_.copy_in(in); }
  template <class T>
  bool write_object(const T& value) {
    static_assert(std::is_trivially_copyable_v<T>);
    return write({reinterpret_cast<const uint8_t*>(&value), sizeof(T)});
  }
  std::optional<std::vector<iovec>> take(uint32_t length) { return cursor_.take(length); }
  // Leaves `length` bytes as they are (they count as written).
  bool skip(uint32_t length) { return cursor_.skip(length); }

 private:
  BufferCursor   cursor_;
  const uint32_t capacity_;
};

}  // namespace ember::virtio
