// GuestMemory: the only door to guest RAM.
//
// Every access names a guest-physical range; it succeeds only if the whole
// range lies inside one RAM region (checked addition, so ranges that wrap
// 2^64, straddle the MMIO hole or run past the end are refused). Each region
// is a mapping with an inaccessible guard page on either side, so an
// off-by-one in ember faults instead of touching other host memory. Each
// region starts on a 2 MiB host boundary and private RAM asks for
// transparent huge pages, so KVM can map guest RAM 2 MiB at a time.
//
// RAM is anonymous memory unless another process must map it too (a
// vhost-user backend): then each region is a memfd, mapped shared, whose
// descriptor the backend receives (Region::fd).
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "base/result.h"
#include "memory/memory_map.h"

namespace ember {

class GuestMemory final {
 public:
  struct Region {
    uint64_t guest_address;
    uint64_t size;
    uint8_t* host;     // for KVM_SET_USER_MEMORY_REGION and vhost-user's memory table only
    int      fd = -1;  // the memfd behind a shareable region, mapped from offset 0
  };
  enum class Sharing { kPrivate, kShareable };

  static Result<GuestMemory> create(const std::vector<RamRegion>& layout, Sharing sharing = Sharing::kPrivate);
  // RAM that starts as `file` holds it (the regions back to back, as
  // save_to writes them), copy-on-write (MAP_PRIVATE): a restored snapshot's
  // RAM costs nothing until touched, and the file never changes.
  static Result<GuestMemory> map_copy_on_write(const std::vector<RamRegion>& layout, int file);
  // Writes every region, back to back, to `file` (already empty), leaving
  // holes where a 64 KiB block is all zeroes: where the guest never wrote.
  Result<void> save_to(int file) const;

  GuestMemory(GuestMemory&& other) noexcept : regions_{std::move(other.regions_)} { other.regions_.clear(); }
  GuestMemory& operator=(GuestMemory&&) = delete;
  GuestMemory(const GuestMemory&) = delete;
  ~GuestMemory();

  // A view of [address, address + length), or an empty span if any byte of it
  // is not RAM or length is 0.
  std::span<uint8_t> slice(uint64_t address, uint64_t length) const;

  bool contains(uint64_t address, uint64_t length) const { return length > 0 && !slice(address, length).empty(); }
  bool read(uint64_t address, std::span<uint8_t> out) const;
  bool write(uint64_t address, std::span<const uint8_t> in) const;

  template <class T>
  std::optional<T> read_object(uint64_t address) const {
    static_assert(std::is_trivially_copyable_v<T>);
    T value;
    if (!read(address, std::span{reinterpret_cast<uint8_t*>(&value), sizeof(T)})) return std::nullopt;
    return value;
  }

  template <class T>
  bool write_object(uint64_t address, const T& value) const {
    static_assert(std::is_trivially_copyable_v<T>);
    return write(address, std::span{reinterpret_cast<const uint8_t*>(&value), sizeof(T)});
  }

  const std::vector<Region>& regions() const { return regions_; }
  uint64_t total_size() const;
  // Guest RAM the host has actually backed so far (mincore), for memory
  // accounting: ember's own footprint is the process RSS minus this.
  uint64_t resident_bytes() const;
  // One past the highest RAM address.
  uint64_t end() const;

 private:
  explicit GuestMemory(std::vector<Region> regions) : regions_{std::move(regions)} {}
  std::vector<Region> regions_;  // sorted, disjoint
};

}  // namespace ember
