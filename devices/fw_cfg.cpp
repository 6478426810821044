#include "devices/fw_cfg.h"

#include <endian.h>

#include <algorithm>
#include <array>
#include <cstring>

#include "base/bytes.h"
#include "base/log.h"
#include "base/strings.h"

namespace ember {
namespace {

// The signature a DMA-capable device returns from its DMA port ("QEMU CFG").
constexpr uint64_t kDmaSignature = 0x51454d5520434647ull;
constexpr uint32_t kIdTraditional = 1u << 0, kIdDma = 1u << 1;

// FWCfgDmaAccess: every field big-endian.
struct DmaAccess {
  uint32_t control;
  uint32_t length;
  uint64_t address;
};
constexpr uint32_t kDmaError = 0x01, kDmaRead = 0x02, kDmaSkip = 0x04, kDmaSelect = 0x08, kDmaWrite = 0x10;

void append_be32(std::vector<uint8_t>& out, uint32_t value) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<uint8_t>(value >> shift));
}

}  // namespace

FwCfg::FwCfg(const GuestMemory& memory) : memory_{memory} {
  add_item(kSignature, {'Q', 'E', 'M', 'U'});
  add_item(kId, {kIdTraditional | kIdDma, 0, 0, 0});
  rebuild_directory();
}

void FwCfg::add_item(uint16_t key, std::vector<uint8_t> bytes) { items_[key] = std::move(bytes); }

Status FwCfg::add_file(const std::string& name, std::vector<uint8_t> bytes) {
  if (name.empty() || name.size() >= kMaxFileName) {
    return Error{"fw_cfg file name '" + name + "' must have 1 to " + std::to_string(kMaxFileName - 1) + " characters"};
  }
  if (name.find('\0') != std::string::npos) return Error{"fw_cfg file name contains a NUL byte"};
  for (const auto& [existing, key] : files_) {
    if (existing == name) return Error{"fw_cfg file '" + name + "' is given twice"};
  }
  if (files_.size() >= kMaxFiles) return Error{"more than " + std::to_string(kMaxFiles) + " fw_cfg files"};
  const auto key = static_cast<uint16_t>(kFirstFile + files_.size());
  files_.emplace_back(name, key);
  add_item(key, std::move(bytes));
  rebuild_directory();
  return {};
}

void FwCfg::rebuild_directory() {
  // FWCfgFiles: a big-endian count, then per file a big-endian size and
  // selector, two reserved bytes and a 56-byte NUL-padded name, sorted by name
  // as QEMU sorts them.
  auto sorted = files_;
  std::sort(sorted.begin(), sorted.end());
  std::vector<uint8_t> directory;
  append_be32(directory, static_cast<uint32_t>(sorted.size()));
  for (const auto& [file_name, key] : sorted) {
    append_be32(directory, static_cast<uint32_t>(items_.at(key).size()));
    directory.push_back(static_cast<uint8_t>(key >> 8));
    directory.push_back(static_cast<uint8_t>(key));
    directory.push_back(0);
    directory.push_back(0);
    std::array<uint8_t, kMaxFileName> padded{};
    std::memcpy(padded.data(), file_name.data(), file_name.size());
    directory.insert(directory.end(), padded.begin(), padded.end());
  }
  items_[kFileDirectory] = std::move(directory);
}

const std::vector<uint8_t>* FwCfg::selected_item() const {
  const auto found = items_.find(selector_);
  return found == items_.end() ? nullptr : &found->second;
}

void FwCfg::read(const Access& access, std::span<uint8_t> data) {
  std::lock_guard lock{mutex_};
  if (access.offset == kDataOffset) {
    const auto* item = selected_item();
    for (auto& byte : data) {
      byte = item != nullptr && offset_ < item->size() ? (*item)[offset_] : 0;
      if (item != nullptr && offset_ < item->size()) ++offset_;
    }
  } else if (access.offset >= kDmaOffset && access.offset < kDmaOffset + 8) {
    for (size_t i = 0; i < data.size() && access.offset + i < kDmaOffset + 8; ++i) {
      data[i] = static_cast<uint8_t>(kDmaSignature >> (8 * (7 - (access.offset - kDmaOffset + i))));
    }
  }
}

void FwCfg::write(const Access& access, std::span<const uint8_t> data) {
  std::lock_guard lock{mutex_};
  uint32_t value = 0;
  for (size_t i = 0; i < data.size() && i < sizeof value; ++i) value |= uint32_t{data[i]} << (8 * i);
  if (access.offset == kSelectorOffset && data.size() == 2) {
    selector_ = static_cast<uint16_t>(value);
    offset_ = 0;
  } else if (access.offset == kDmaOffset && data.size() == 4) {
    dma_address_high_ = be32toh(value);
  } else if (access.offset == kDmaOffset + 4 && data.size() == 4) {
    run_dma((uint64_t{dma_address_high_} << 32) | be32toh(value));
    dma_address_high_ = 0;
  } else {
    EMBER_GUEST_WARNING("fw_cfg: a " + std::to_string(data.size()) + "-byte write to port " + hex(access.address) +
                        " means nothing; dropped");
  }
}

void FwCfg::run_dma(uint64_t descriptor_address) {
  auto descriptor = memory_.read_object<DmaAccess>(descriptor_address);
  if (!descriptor) {
    EMBER_GUEST_WARNING("fw_cfg: DMA descriptor at " + hex(descriptor_address) + " is not in guest RAM; ignored");
    return;
  }
  const uint32_t control = be32toh(descriptor->control);
  const uint64_t length = be32toh(descriptor->length);
  const uint64_t address = be64toh(descriptor->address);
  if (control & kDmaSelect) {
    selector_ = static_cast<uint16_t>(control >> 16);
    offset_ = 0;
  }
  bool ok = true;
  if (control & kDmaWrite) {
    ok = false;  // no item is writable
  } else if (control & kDmaRead) {
    // The item's bytes from the current offset, then zeros past its end. The
    // whole destination is checked first, so a bad address writes nothing.
    const auto* item = selected_item();
    const uint64_t available = item != nullptr && offset_ < item->size() ? item->size() - offset_ : 0;
    const uint64_t copied = std::min(length, available);
    auto target = length == 0 ? std::span<uint8_t>{} : memory_.slice(address, length);
    if (length != 0 && target.empty()) {
      ok = false;
    } else if (length != 0) {
      if (copied != 0) std::memcpy(target.data(), item->data() + offset_, copied);
      std::memset(target.data() + copied, 0, length - copied);
      offset_ += copied;
    }
  } else if (control & kDmaSkip) {
    offset_ += length;
  }
  const uint32_t result = htobe32(ok ? 0 : kDmaError);
  if (!memory_.write_object(descriptor_address, result)) {
    EMBER_GUEST_WARNING("fw_cfg: DMA descriptor at " + hex(descriptor_address) + " vanished; status not written");
  }
}

}  // namespace ember
