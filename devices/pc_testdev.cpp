#include "devices/pc_testdev.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/log.h"
#include "base/strings.h"
#include "devices/isa_irq.h"

namespace ember {
namespace {

constexpr uint64_t kFlushOffset = 4;  // 0xe4-0xe7, between the two views of the scratch register
constexpr unsigned kIsaIrqs = 16, kTimerIrqPin = 2;

std::array<std::unique_ptr<InterruptLine>, PcTestdev::kIrqLineCount> wire_lines(Pic8259Pair& pic, Ioapic& ioapic) {
  std::array<std::unique_ptr<InterruptLine>, PcTestdev::kIrqLineCount> lines;
  for (unsigned line = 0; line < lines.size(); ++line) {
    if (line < kIsaIrqs) lines[line] = std::make_unique<IsaIrq>(pic, line, ioapic, line == 0 ? kTimerIrqPin : line);
    else lines[line] = std::make_unique<IoapicPin>(ioapic, line);
  }
  return lines;
}

// Where an access of `size` bytes at `offset` within the 4-byte register
// lands: QEMU's view, byte (offset % 4) upwards, the part past byte 3 lost.
size_t register_bytes(uint64_t offset, size_t size) { return std::min<size_t>(size, 4 - offset % 4); }

}  // namespace

PcTestdev::PcTestdev(Pic8259Pair& pic, Ioapic& ioapic) : irq_lines_{wire_lines(pic, ioapic)} {}

void PcTestdev::Ports::read(const Access& access, std::span<uint8_t> data) {
  if (access.offset / 4 == kFlushOffset / 4) return;  // write-only: reads return 0
  std::lock_guard lock{mutex_};
  uint8_t bytes[4];
  std::memcpy(bytes, &scratch_, 4);
  std::memcpy(data.data(), bytes + access.offset % 4, register_bytes(access.offset, data.size()));
}

void PcTestdev::Ports::write(const Access& access, std::span<const uint8_t> data) {
  if (access.offset / 4 == kFlushOffset / 4) return;  // accepted, nothing to do (see the header)
  std::lock_guard lock{mutex_};
  uint8_t bytes[4];
  std::memcpy(bytes, &scratch_, 4);
  std::memcpy(bytes + access.offset % 4, data.data(), register_bytes(access.offset, data.size()));
  std::memcpy(&scratch_, bytes, 4);
}

void PcTestdev::IrqLines::write(const Access& access, std::span<const uint8_t> data) {
  // One byte per line, as QEMU's region takes only byte accesses.
  if (data.size() != 1 || access.offset >= lines_.size()) {
    EMBER_GUEST_WARNING("pc-testdev: ignoring " + std::to_string(data.size()) + "-byte write to IRQ line port " +
                        hex(access.address) + " (lines take one byte each)");
    return;
  }
  lines_[access.offset]->set_level(data[0] != 0);
}

void PcTestdev::Iomem::read(const Access& access, std::span<uint8_t> data) {
  if (access.offset >= kIomemSize) return;
  std::lock_guard lock{mutex_};
  std::memcpy(data.data(), bytes_.data() + access.offset, std::min<uint64_t>(data.size(), kIomemSize - access.offset));
}

void PcTestdev::Iomem::write(const Access& access, std::span<const uint8_t> data) {
  if (access.offset >= kIomemSize) return;
  std::lock_guard lock{mutex_};
  std::memcpy(bytes_.data() + access.offset, data.data(), std::min<uint64_t>(data.size(), kIomemSize - access.offset));
}

}  // namespace ember
