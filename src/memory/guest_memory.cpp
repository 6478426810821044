#include "memory/guest_memory.h"

#include <vector>

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "base/strings.h"

namespace ember {
namespace {

void unmap_with_guards(const GuestMemory::Region& region) {
  ::munmap(region.host - kPageSize, region.size + 2 * kPageSize);
  if (region.fd >= 0) ::close(region.fd);
}

// Maps `size` bytes of a new memfd over [host, host + size), which the
// caller reserved; the memfd's descriptor, or -1 with errno set.
int map_shareable(uint8_t* host, uint64_t size) {
  const int fd = ::memfd_create("ember-guest-ram", MFD_CLOEXEC);
  if (fd < 0) return -1;
  if (::ftruncate(fd, static_cast<off_t>(size)) != 0 ||
      ::mmap(host, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd, 0) == MAP_FAILED) {
    const int err = errno;
    ::close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// Reserves `size` bytes with an inaccessible guard page either side, all
// PROT_NONE, and returns the start of the middle, aligned to 2 MiB: guest
// RAM starts on a 2 MiB guest-physical boundary too, so the host may back
// it with transparent huge pages that KVM then maps whole (a huge page
// maps only where host and guest address agree modulo its size). The
// alignment's slack is given back, so what stays reserved is exactly what
// unmap_with_guards releases. nullptr with errno set on failure.
uint8_t* reserve_with_guards(uint64_t size) {
  constexpr uint64_t kHugePage = 2 << 20;
  const uint64_t reserved = size + 2 * kPageSize + kHugePage;
  void* base = ::mmap(nullptr, reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) return nullptr;
  const auto start = reinterpret_cast<uintptr_t>(base);
  const uintptr_t host = (start + kPageSize + kHugePage - 1) & ~uintptr_t{kHugePage - 1};
  const uintptr_t kept_end = host + size + kPageSize;
  if (host - kPageSize > start) ::munmap(base, host - kPageSize - start);
  if (start + reserved > kept_end) ::munmap(reinterpret_cast<void*>(kept_end), start + reserved - kept_end);
  return reinterpret_cast<uint8_t*>(host);
}

}  // namespace

Result<GuestMemory> GuestMemory::create(const std::vector<RamRegion>& layout, Sharing sharing) {
  std::vector<Region> regions;
  for (const auto& wanted : layout) {
    if (wanted.size == 0 || wanted.size % kPageSize != 0 || wanted.guest_address % kPageSize != 0) {
      for (const auto& r : regions) unmap_with_guards(r);
      return Error{"guest RAM regions must be non-empty and page-aligned"};
    }
    // Reserve the region plus a guard page either side, all inaccessible, then
    // open up the middle. MAP_NORESERVE: guest RAM is committed as it is touched.
    auto* host = reserve_with_guards(wanted.size);
    if (host == nullptr) {
      const int err = errno;
      for (const auto& r : regions) unmap_with_guards(r);
      return Error{"cannot map " + format_size(wanted.size) + " of guest RAM: " + std::strerror(err)};
    }
    const Region reservation{wanted.guest_address, wanted.size, host};  // released as a region is, on failure
    if (sharing == Sharing::kShareable) {
      const int fd = map_shareable(host, wanted.size);
      if (fd < 0) {
        const int err = errno;
        unmap_with_guards(reservation);
        for (const auto& r : regions) unmap_with_guards(r);
        return Error{"cannot back guest RAM with a shareable memfd: " + std::string(std::strerror(err))};
      }
      regions.push_back({wanted.guest_address, wanted.size, host, fd});
      continue;
    }
    if (::mprotect(host, wanted.size, PROT_READ | PROT_WRITE) != 0) {
      const int err = errno;
      unmap_with_guards(reservation);
      for (const auto& r : regions) unmap_with_guards(r);
      return Error{"cannot make guest RAM writable: " + std::string(std::strerror(err))};
    }
    // Huge pages where the host offers them on request (Debian's default,
    // "madvise"): each 2 MiB the guest touches is then one host fault and
    // one KVM mapping instead of 512. Nested, where every fault of the guest
    // exits to the L1 hypervisor, that is much of a Linux boot (QEMU asks
    // the same for its RAM). Only a hint: refused (no THP), RAM still works.
    ::madvise(host, wanted.size, MADV_HUGEPAGE);
    regions.push_back({wanted.guest_address, wanted.size, host});
  }
  return GuestMemory{std::move(regions)};
}

Result<GuestMemory> GuestMemory::map_copy_on_write(const std::vector<RamRegion>& layout, int file) {
  auto memory = create(layout);  // reserved, with guard pages; then the file over each region
  if (!memory) return memory.error();
  uint64_t offset = 0;
  for (const auto& region : memory->regions_) {
    if (::mmap(region.host, region.size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, file,
               static_cast<off_t>(offset)) == MAP_FAILED) {
      return Error{"cannot map the snapshot's RAM: " + std::string(std::strerror(errno))};
    }
    offset += region.size;
  }
  return memory;
}

Result<void> GuestMemory::save_to(int file) const {
  constexpr uint64_t kBlock = 64 << 10;
  uint64_t offset = 0;
  for (const auto& region : regions_) {
    for (uint64_t at = 0; at < region.size; at += kBlock) {
      const uint64_t length = std::min(kBlock, region.size - at);
      const uint8_t* block = region.host + at;
      // All zeroes: a hole (the file's size is set at the end).
      bool zero = true;
      for (uint64_t i = 0; i < length && zero; i += 8) {
        uint64_t word;
        std::memcpy(&word, block + i, 8);
        zero = word == 0;
      }
      if (zero) continue;
      for (uint64_t done = 0; done < length;) {
        const ssize_t wrote = ::pwrite(file, block + done, length - done, static_cast<off_t>(offset + at + done));
        if (wrote < 0 && errno == EINTR) continue;
        if (wrote <= 0) return Error{"cannot write guest RAM: " + std::string(wrote < 0 ? std::strerror(errno) : "no space")};
        done += static_cast<uint64_t>(wrote);
      }
    }
    offset += region.size;
  }
  // The size, without ftruncate (not in ember's seccomp filter): the last
  // byte is RAM's last byte, a zero where the block above was skipped.
  if (!regions_.empty()) {
    const uint8_t* last = regions_.back().host + regions_.back().size - 1;
    if (::pwrite(file, last, 1, static_cast<off_t>(offset - 1)) != 1) {
      return Error{"cannot size the RAM file: " + std::string(std::strerror(errno))};
    }
  }
  return {};
}

GuestMemory::~GuestMemory() {
  for (const auto& region : regions_) unmap_with_guards(region);
}

std::span<uint8_t> GuestMemory::slice(uint64_t address, uint64_t length) const {
  if (length == 0) return {};
  uint64_t last = 0;
  if (__builtin_add_overflow(address, length - 1, &last)) return {};
  for (const auto& region : regions_) {
    const uint64_t region_last = region.guest_address + (region.size - 1);
    if (address >= region.guest_address && last <= region_last) {
      return {region.host + (address - region.guest_address), static_cast<size_t>(length)};
    }
  }
  return {};
}

bool GuestMemory::read(uint64_t address, std::span<uint8_t> out) const {
  if (out.empty()) return true;
  const auto source = slice(address, out.size());
  if (source.empty()) return false;
  std::memcpy(out.data(), source.data(), out.size());
  return true;
}

bool GuestMemory::write(uint64_t address, std::span<const uint8_t> in) const {
  if (in.empty()) return true;
  const auto target = slice(address, in.size());
  if (target.empty()) return false;
  std::memcpy(target.data(), in.data(), in.size());
  return true;
}

uint64_t GuestMemory::total_size() const {
  uint64_t total = 0;
  for (const auto& region : regions_) total += region.size;
  return total;
}

uint64_t GuestMemory::resident_bytes() const {
  uint64_t resident = 0;
  std::vector<unsigned char> pages;
  for (const auto& region : regions_) {
    pages.assign(region.size / kPageSize, 0);
    if (::mincore(region.host, region.size, pages.data()) != 0) continue;
    for (unsigned char page : pages) resident += (page & 1) ? kPageSize : 0;
  }
  return resident;
}

uint64_t GuestMemory::end() const { return regions_.empty() ? 0 : regions_.back().guest_address + regions_.back().size; }

}  // namespace ember
