#include "pci/msix.h"

#include <cstring>

#include "irq/interrupt_message.h"

namespace ember {
namespace {

constexpr uint8_t kCapabilityMsix = 0x11;
constexpr uint16_t kControlEnable = 0x8000, kControlFunctionMask = 0x4000;

}  // namespace

Msix::Msix(PciConfigSpace& config, MsiSender& msi, uint16_t vectors, uint32_t table_offset, uint32_t pba_offset)
    : config_{config}, msi_{msi}, table_offset_{table_offset}, pba_offset_{pba_offset}, table_(vectors), pending_(vectors, false) {
  // 6.8.2: table size - 1 in message control; table and PBA in BAR 0 (BIR 0).
  std::vector<uint8_t> body(12, 0), writable(12, 0);
  body[0] = kCapabilityMsix;
  const uint16_t control = static_cast<uint16_t>(vectors - 1);
  std::memcpy(&body[2], &control, 2);
  std::memcpy(&body[4], &table_offset, 4);
  std::memcpy(&body[8], &pba_offset, 4);
  writable[3] = 0xc0;  // enable (bit 15) and function mask (bit 14)
  capability_ = config_.add_capability(body, writable);
}

bool Msix::enabled() const { return (config_.word(capability_ + 2u) & kControlEnable) != 0; }
bool Msix::function_masked() const { return (config_.word(capability_ + 2u) & kControlFunctionMask) != 0; }

void Msix::config_written(uint32_t offset, size_t size) {
  const uint32_t control = capability_ + 2u;
  if (offset <= control + 1 && offset + size > control) send_pending();  // enabled or unmasked
}

std::optional<const char*> Msix::bar_access(uint64_t offset, std::span<uint8_t> data, bool write) {
  const uint64_t table_end = table_offset_ + 16ull * table_.size();
  if (offset >= table_offset_ && offset < table_end) {
    if (data.size() != 4 || offset % 4 != 0) return "MSI-X table entries take aligned 32-bit accesses";
    const uint64_t at = offset - table_offset_;
    uint32_t value = 0;
    if (write) {
      std::memcpy(&value, data.data(), 4);
      write_entry(at, value);
      return nullptr;
    }
    const Entry& entry = table_[at / 16];
    switch (at % 16) {
      case 0: value = static_cast<uint32_t>(entry.address); break;
      case 4: value = static_cast<uint32_t>(entry.address >> 32); break;
      case 8: value = entry.data; break;
      default: value = entry.masked ? 1 : 0; break;
    }
    std::memcpy(data.data(), &value, 4);
    return nullptr;
  }
  if (offset >= pba_offset_ && offset < pba_offset_ + 8 * ((pending_.size() + 63) / 64)) {
    if (write) return "the PBA is read-only";
    if ((data.size() != 4 && data.size() != 8) || offset % data.size() != 0) return "PBA accesses are 32 or 64 bits";
    const uint64_t first_bit = (offset - pba_offset_) * 8;
    uint64_t bits = 0;
    for (uint64_t i = 0; i < data.size() * 8 && first_bit + i < pending_.size(); ++i) {
      if (pending_[first_bit + i]) bits |= 1ull << i;
    }
    std::memcpy(data.data(), &bits, data.size());
    return nullptr;
  }
  return std::nullopt;
}

void Msix::write_entry(uint64_t table_offset, uint32_t value) {
  Entry& entry = table_[table_offset / 16];
  switch (table_offset % 16) {
    case 0: entry.address = (entry.address & ~0xffffffffull) | value; return;
    case 4: entry.address = (entry.address & 0xffffffffull) | static_cast<uint64_t>(value) << 32; return;
    case 8: entry.data = value; return;
    default:
      entry.masked = (value & 1) != 0;
      if (!entry.masked) send_pending();
      return;
  }
}

void Msix::send(uint16_t vector) {
  if (!enabled() || vector >= vector_count()) return;
  const Entry& entry = table_[vector];
  if (function_masked() || entry.masked) {
    pending_[vector] = true;  // 6.8.2.9: sent when unmasked
    return;
  }
  msi_.send_msi(entry.address, entry.data);
}

void Msix::send_pending() {
  if (!enabled() || function_masked()) return;
  for (uint16_t vector = 0; vector < vector_count(); ++vector) {
    if (pending_[vector] && !table_[vector].masked) {
      pending_[vector] = false;
      msi_.send_msi(table_[vector].address, table_[vector].data);
    }
  }
}

bool Msix::routes_wake_events() const {
  if (!enabled() || function_masked()) return false;
  for (const Entry& entry : table_) {
    // MSI data: the delivery mode in bits 10:8 (SDM Vol. 3A 11.11.2).
    if (!entry.masked && wakes_a_halted_cpu(static_cast<DeliveryMode>((entry.data >> 8) & 7))) return true;
  }
  return false;
}

}  // namespace ember
