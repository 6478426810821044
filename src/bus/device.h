// The device interface, kept this small on purpose (ARCHITECTURE.md, "Three data paths"): a device sees
// one access at a time and checks size and offset itself, assuming
// offset + data.size() can run past its range.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace ember {

struct Access {
  uint64_t offset;   // from the start of the device's range
  uint64_t address;  // the guest port or physical address
  uint32_t vcpu;     // which VCPU made the access
};

class Device {
 public:
  virtual ~Device() = default;
  virtual std::string_view name() const = 0;
  // `data` arrives zero-filled; whatever the device leaves there is returned.
  virtual void read(const Access& access, std::span<uint8_t> data) = 0;
  virtual void write(const Access& access, std::span<const uint8_t> data) = 0;
};

}  // namespace ember
