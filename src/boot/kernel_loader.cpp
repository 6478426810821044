#include "boot/kernel_loader.h"

#include "boot/bzimage_loader.h"
#include "boot/elf_loader.h"
#include "boot/multiboot_loader.h"

namespace ember::boot {

LoadResult<EntryPoint> load_kernel(const GuestMemory& memory, const BootInputs& inputs) {
  // QEMU's order for -kernel: a Linux setup header wins, then a multiboot
  // header, then an ELF image of its own (PVH or 64-bit entry).
  const auto head = inputs.kernel.head();
  if (looks_like_bzimage(head)) {
    if (!inputs.modules.empty()) return LoadError{LoadFault::kBadInput, "is a Linux bzImage; --module is for multiboot kernels (Linux takes --initrd)"};
    return load_bzimage(memory, inputs);
  }
  if (const auto multiboot = find_multiboot_header(head)) return load_multiboot(memory, inputs, *multiboot);
  if (!inputs.modules.empty()) return LoadError{LoadFault::kBadInput, "has no multiboot header; --module is for multiboot kernels only"};
  if (looks_like_elf(head)) return load_elf(memory, inputs);
  return *unrecognized_kernel(head);
}

bool loads_from_memory_only(std::span<const uint8_t> head) { return !looks_like_bzimage(head) && find_multiboot_header(head); }

std::optional<LoadError> unrecognized_kernel(std::span<const uint8_t> head) {
  if (looks_like_bzimage(head) || find_multiboot_header(head) || looks_like_elf(head)) return std::nullopt;
  // A boot sector signature without the setup header: a bzImage cut short.
  if (head.size() >= 0x200 && head[0x1fe] == 0x55 && head[0x1ff] == 0xaa) {
    return LoadError{LoadFault::kTruncated, "is truncated: it has a boot sector but no complete setup header"};
  }
  return LoadError{LoadFault::kUnknownFormat, "is neither a Linux bzImage ('HdrS' at 0x202) nor an ELF64 image (bad magic)"};
}

}  // namespace ember::boot
