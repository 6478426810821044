// The xAPIC MMIO page at 0xfee00000. Every VCPU sees its own LAPIC there, so
// this device picks the LAPIC by the accessing VCPU; that access runs on the
// VCPU's own thread, which owns the LAPIC, so no lock is needed.
#pragma once

#include <cstring>
#include <vector>

#include "base/log.h"
#include "bus/device.h"
#include "devices/lapic.h"

namespace ember {

class LapicMmio final : public Device {
 public:
  void add(Lapic& lapic) { lapics_.push_back(&lapic); }  // in VCPU order, during assembly

  std::string_view name() const override { return "lapic"; }

  // SDM 11.4.1: registers are 32 bits wide, 16-byte aligned, and accessed
  // with aligned 32-bit loads and stores; anything else is ignored.
  void read(const Access& access, std::span<uint8_t> data) override {
    if (!valid(access, data.size())) return;
    const uint32_t value = lapics_[access.vcpu]->read_register(static_cast<uint32_t>(access.offset));
    std::memcpy(data.data(), &value, 4);
  }
  void write(const Access& access, std::span<const uint8_t> data) override {
    if (!valid(access, data.size())) return;
    uint32_t value = 0;
    std::memcpy(&value, data.data(), 4);
    lapics_[access.vcpu]->write_register(static_cast<uint32_t>(access.offset), value);
  }

 private:
  bool valid(const Access& access, size_t size) const {
    if (access.vcpu < lapics_.size() && lapics_[access.vcpu]->x2apic_mode()) return false;  // MMIO off in x2APIC mode
    if (access.vcpu < lapics_.size() && size == 4 && access.offset % 16 == 0 && access.offset < Lapic::kMmioSize) return true;
    EMBER_GUEST_WARNING("lapic: ignoring " + std::to_string(size) + "-byte access at offset " + std::to_string(access.offset));
    return false;
  }

  std::vector<Lapic*> lapics_;
};

}  // namespace ember
