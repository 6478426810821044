// QEMU's firmware configuration device, as guests built for QEMU's PC machine
// read it (QEMU docs/specs/fw_cfg.rst): a 16-bit selector at port 0x510, a
// byte-wide data port at 0x511 that reads the selected item from its start,
// and the DMA interface at 0x514 (a big-endian guest-physical address of a
// FWCfgDmaAccess; writing the low half at 0x518 runs the transfer). Items
// are registered while the machine is assembled; unknown keys and reads past
// an item's end give zeros. Nothing here is writable by the guest.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/result.h"
#include "bus/device.h"
#include "memory/guest_memory.h"
#include "platform/address_map.h"

namespace ember {

class FwCfg final : public Device {
 public:
  static constexpr uint16_t kBasePort = platform::kFwCfgPort;
  static constexpr uint16_t kPortCount = 12;  // 0x510-0x51b

  // Selector keys (QEMU include/standard-headers/linux/qemu_fw_cfg.h).
  static constexpr uint16_t kSignature = 0x00, kId = 0x01, kUuid = 0x02, kRamSize = 0x03, kNoGraphic = 0x04,
                            kNbCpus = 0x05, kMaxCpus = 0x0f, kCmdlineSize = 0x14, kCmdlineData = 0x15,
                            kFileDirectory = 0x19, kFirstFile = 0x20;
  static constexpr size_t   kMaxFileName = 56;  // with the NUL
  static constexpr uint32_t kMaxFiles = 256;

  explicit FwCfg(const GuestMemory& memory);

  std::string_view name() const override { return "fw_cfg"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

  // Assembly only: an item under a fixed key, or a named file under the next
  // file key (the directory follows).
  void add_item(uint16_t key, std::vector<uint8_t> bytes);
  Status add_file(const std::string& name, std::vector<uint8_t> bytes);

 private:
  static constexpr uint16_t kSelectorOffset = 0, kDataOffset = 1, kDmaOffset = 4;

  const std::vector<uint8_t>* selected_item() const;
  void run_dma(uint64_t descriptor_address);
  void rebuild_directory();

  const GuestMemory&                       memory_;
  std::map<uint16_t, std::vector<uint8_t>> items_;
  std::vector<std::pair<std::string, uint16_t>> files_;

  std::mutex mutex_;  // guards the access state below
  uint16_t   selector_ = kSignature;
  uint64_t   offset_ = 0;
  uint32_t   dma_address_high_ = 0;
};

}  // namespace ember
