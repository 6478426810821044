// libFuzzer target: the kernel loaders (bzImage, multiboot, ELF) on
// arbitrary image bytes, into 64 MiB of guest RAM.
#include <cstdint>
#include <span>

#include "boot/kernel_loader.h"
#include "memory/memory_map.h"

using namespace ember;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const GuestMemory memory = std::move(GuestMemory::create(ram_regions_for(64 << 20)).value());
  static const uint8_t initrd[4096] = {1, 2, 3};
  const std::span<const uint8_t> kernel{data, size};
  const boot::BootInputs inputs{kernel, std::span<const uint8_t>{initrd, sizeof initrd}, "console=ttyS0", "kernel", "initrd", {}};
  (void)boot::load_kernel(memory, inputs);
  return 0;
}
