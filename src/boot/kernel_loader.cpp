#include "boot/kernel_loader.h"

#include "boot/bzimage_loader.h"
#include "boot/elf_loader.h"

namespace ember::boot {

Result<EntryPoint> load_kernel(const GuestMemory& memory, const BootInputs& inputs) {
  if (looks_like_elf(inputs.kernel)) return load_elf(memory, inputs);
  if (looks_like_bzimage(inputs.kernel)) return load_bzimage(memory, inputs);
  // A boot sector signature without the setup header: a bzImage cut short.
  if (inputs.kernel.size() >= 0x200 && inputs.kernel[0x1fe] == 0x55 && inputs.kernel[0x1ff] == 0xaa) {
    return Error{"is truncated: it has a boot sector but no complete setup header"};
  }
  return Error{"is neither a Linux bzImage ('HdrS' at 0x202) nor an ELF64 image (bad magic)"};
}

}  // namespace ember::boot
