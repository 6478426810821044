// A port-I/O or MMIO bus: a sorted map of disjoint address ranges to devices.
//
// Built while the machine is assembled and read-only once VCPUs run, so
// lookups take no lock. Insertion refuses zero-length ranges, ranges whose end
// overflows 2^64 and overlaps. Unmapped reads return all-ones (as an
// undecoded PC bus does); unmapped writes are dropped, and the first write to
// each address is logged once: a kernel probing for hardware (8250 probes of
// COM2-4, a Super-I/O probe at 0x4e) gives one line per address, not one per
// access. Past kMaxReportedAddresses distinct addresses the log is only
// rate-limited.
#pragma once

#include <cstdint>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "bus/device.h"

namespace ember {

// Why a device could not be placed on a bus.
enum class BusFault {
  kZeroLength,
  kWraps,    // base + length runs past 2^64
  kOverlap,  // another device already answers there
};
using BusError = CodedError<BusFault>;

class Bus final {
 public:
  explicit Bus(std::string name) : name_{std::move(name)} {}

  // The bus does not own devices: the Machine does, and outlives the bus.
  Result<void, BusError> insert(uint64_t base, uint64_t length, Device& device);

  // Dispatches to the device whose range holds `address`. Return false when
  // no device does (the read is then all-ones, the write dropped).
  bool read(uint64_t address, std::span<uint8_t> data, uint32_t vcpu) const;
  bool write(uint64_t address, std::span<const uint8_t> data, uint32_t vcpu) const;

  size_t size() const { return ranges_.size(); }

 private:
  struct Range {
    uint64_t base;
    uint64_t last;  // inclusive, so a range may end at 2^64 - 1
    Device*  device;
  };
  const Range* find(uint64_t address) const;
  void         report_unmapped_write(uint64_t address, size_t size, uint32_t vcpu) const;

  static constexpr size_t kMaxReportedAddresses = 64;

  std::string        name_;
  std::vector<Range> ranges_;  // sorted by base, disjoint
  mutable std::mutex         reported_mutex_;  // guards reported_; taken on unmapped writes only
  mutable std::set<uint64_t> reported_;        // addresses whose unmapped write was logged
};

}  // namespace ember
