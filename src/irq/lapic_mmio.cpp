#include "irq/lapic_mmio.h"

#include <cstring>
#include <string>

#include "base/log.h"
#include "base/strings.h"

namespace ember {
namespace {

// SDM 11.4.1: aligned 32-bit loads and stores only.
bool register_access(uint64_t offset, size_t size) {
  if (size == 4 && offset % 16 == 0) return true;
  EMBER_GUEST_WARNING("lapic: ignoring " + std::to_string(size) + "-byte access at offset " + hex(offset));
  return false;
}

}  // namespace

bool lapic_mmio_read(const Lapic& lapic, uint64_t address, std::span<uint8_t> data) {
  if (!lapic.decodes(address)) return false;
  const uint64_t offset = address - lapic.mmio_base();
  std::memset(data.data(), 0xff, data.size());
  if (!register_access(offset, data.size())) return true;
  const uint32_t value = lapic.read_register(static_cast<uint32_t>(offset));
  std::memcpy(data.data(), &value, 4);
  return true;
}

bool lapic_mmio_write(Lapic& lapic, uint64_t address, std::span<const uint8_t> data) {
  if (!lapic.decodes(address)) return false;
  const uint64_t offset = address - lapic.mmio_base();
  if (!register_access(offset, data.size())) return true;
  uint32_t value = 0;
  std::memcpy(&value, data.data(), 4);
  lapic.write_register(static_cast<uint32_t>(offset), value);
  return true;
}

}  // namespace ember
