#include "boot/placement.h"

#include "base/strings.h"
#include "boot/e820.h"
#include "boot/layout.h"

namespace ember::boot {

LoadResult<uint64_t> write_cmdline(const GuestMemory& memory, const std::string& cmdline, uint64_t max_bytes) {
  if (cmdline.find('\0') != std::string::npos) return LoadError{LoadFault::kBadInput, "the kernel command line contains a NUL byte"};
  const uint64_t limit = std::min(max_bytes, layout::kCmdlineMax);
  if (cmdline.size() + 1 > limit) {
    return LoadError{LoadFault::kDoesNotFit, "the kernel command line is " + std::to_string(cmdline.size()) + " bytes; this kernel accepts at most " +
                 std::to_string(limit - 1)};
  }
  const auto bytes = std::span{reinterpret_cast<const uint8_t*>(cmdline.c_str()), cmdline.size() + 1};
  if (!memory.write(layout::kCmdline, bytes)) return LoadError{LoadFault::kDoesNotFit, "guest RAM is too small for the command line"};
  return layout::kCmdline;
}

LoadResult<uint64_t> place_high(const GuestMemory& memory, const ImageBytes& bytes, uint64_t lowest,
                            uint64_t highest_last_byte, const std::string& what) {
  const uint64_t ceiling = std::min(highest_last_byte, low_ram_end(memory) - 1);
  const uint64_t size = bytes.size();
  const auto too_big = [&] {
    return LoadError{LoadFault::kDoesNotFit, what + " (" + format_size(size) + ") does not fit in guest RAM between " + hex(lowest) + " and " +
                 hex(ceiling) + "; give the guest more --memory"};
  };
  if (size > ceiling + 1 || ceiling + 1 - size < lowest) return too_big();
  const uint64_t address = (ceiling + 1 - size) & ~(kPageSize - 1);
  const auto target = memory.slice(address, size);
  if (address < lowest || target.size() != size) return too_big();
  if (auto copied = bytes.copy(0, target); !copied) return LoadError{copied.error().code, what + " " + copied.error().message};
  return address;
}

LoadStatus write_zero_page(const GuestMemory& memory, BootParams& params) {
  const auto map = e820_map(memory);
  if (map.size() > std::size(params.e820_table)) return LoadError{LoadFault::kDoesNotFit, "the e820 map has too many entries"};
  params.e820_entries = static_cast<uint8_t>(map.size());
  for (size_t i = 0; i < map.size(); ++i) params.e820_table[i] = map[i];
  if (!memory.write_object(layout::kZeroPage, params)) return LoadError{LoadFault::kDoesNotFit, "guest RAM is too small for boot_params"};
  return {};
}

uint64_t low_ram_end(const GuestMemory& memory) {
  const auto& regions = memory.regions();
  return regions.empty() ? 0 : regions.front().guest_address + regions.front().size;
}

}  // namespace ember::boot
