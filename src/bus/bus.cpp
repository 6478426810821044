#include "bus/bus.h"

#include <algorithm>
#include <cstring>

#include "base/log.h"
#include "base/strings.h"

namespace ember {

Result<void, BusError> Bus::insert(uint64_t base, uint64_t length, Device& device) {
  const std::string what = std::string(device.name()) + " at " + hex(base) + " on the " + name_ + " bus";
  if (length == 0) return BusError{BusFault::kZeroLength, what + " has zero length"};
  uint64_t last = 0;
  if (__builtin_add_overflow(base, length - 1, &last)) return BusError{BusFault::kWraps, what + ": the range runs past 2^64"};

  const auto next = std::upper_bound(ranges_.begin(), ranges_.end(), base,
                                     [](uint64_t address, const Range& range) { return address < range.base; });
  if (next != ranges_.end() && next->base <= last) {
    return BusError{BusFault::kOverlap, what + " overlaps " + std::string(next->device->name()) + " at " + hex(next->base)};
  }
  if (next != ranges_.begin() && std::prev(next)->last >= base) {
    const auto& previous = *std::prev(next);
    return BusError{BusFault::kOverlap, what + " overlaps " + std::string(previous.device->name()) + " at " + hex(previous.base)};
  }
  ranges_.insert(next, Range{base, last, &device});
  return {};
}

const Bus::Range* Bus::find(uint64_t address) const {
  const auto next = std::upper_bound(ranges_.begin(), ranges_.end(), address,
                                     [](uint64_t a, const Range& range) { return a < range.base; });
  if (next == ranges_.begin()) return nullptr;
  const Range& candidate = *std::prev(next);
  return address <= candidate.last ? &candidate : nullptr;
}

bool Bus::read(uint64_t address, std::span<uint8_t> data, uint32_t vcpu) const {
  const Range* range = find(address);
  if (range == nullptr) {
    std::memset(data.data(), 0xff, data.size());
    return false;
  }
  std::memset(data.data(), 0, data.size());
  range->device->read(Access{address - range->base, address, vcpu}, data);
  return true;
}

bool Bus::write(uint64_t address, std::span<const uint8_t> data, uint32_t vcpu) const {
  const Range* range = find(address);
  if (range == nullptr) {
    report_unmapped_write(address, data.size(), vcpu);
    return false;
  }
  range->device->write(Access{address - range->base, address, vcpu}, data);
  return true;
}

void Bus::report_unmapped_write(uint64_t address, size_t size, uint32_t vcpu) const {
  auto message = [&] {
    return "VCPU " + std::to_string(vcpu) + " wrote " + std::to_string(size) + " bytes to unmapped " + name_ + " address " +
           hex(address) + "; dropped";
  };
  {
    const std::lock_guard lock{reported_mutex_};
    if (reported_.contains(address)) return;
    if (reported_.size() < kMaxReportedAddresses) {
      reported_.insert(address);
      log::warning(message() + " (later writes there are dropped silently)");
      return;
    }
  }
  EMBER_GUEST_WARNING(message());
}

}  // namespace ember
