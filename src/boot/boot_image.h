// What a loader needs and what it hands back.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace ember::boot {

struct BootInputs {
  std::span<const uint8_t> kernel;
  std::span<const uint8_t> initrd;   // empty: no initrd
  std::string              cmdline;
};

enum class EntryMode {
  Long64,     // 64-bit mode, paging on (identity map), RSI = boot_params: Linux 64-bit boot protocol
  Protected32 // 32-bit protected mode, paging off, EBX = hvm_start_info: PVH
};

struct EntryPoint {
  EntryMode mode;
  uint64_t  address;    // RIP
  uint64_t  boot_info;  // RSI (Long64) or RBX (Protected32)
};

}  // namespace ember::boot
