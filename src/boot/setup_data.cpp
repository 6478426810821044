#include "boot/setup_data.h"

#include <cstddef>

#include "base/strings.h"
#include "boot/boot_params.h"

namespace ember::boot {
namespace {

// struct setup_data of bootparam.h, without its flexible data[] member.
struct SetupDataHeader {
  uint64_t next;  // guest-physical address of the next node, 0 ends the chain
  uint32_t type;
  uint32_t len;   // bytes of data after this header
};
static_assert(sizeof(SetupDataHeader) == 16);

constexpr uint64_t kSetupDataField = offsetof(BootParams, hdr) + offsetof(SetupHeader, setup_data);

}  // namespace

LoadStatus add_setup_data(const GuestMemory& memory, uint64_t zero_page, uint64_t node_address, uint64_t limit, uint32_t type,
                      std::span<const uint8_t> payload) {
  if (payload.size() > UINT32_MAX || node_address > limit || limit - node_address < sizeof(SetupDataHeader) ||
      limit - node_address - sizeof(SetupDataHeader) < payload.size()) {
    return LoadError{LoadFault::kDoesNotFit, "the setup_data node (" + format_size(payload.size()) + ") does not fit between " + hex(node_address) +
                 " and " + hex(limit)};
  }
  const auto head = memory.read_object<uint64_t>(zero_page + kSetupDataField);
  if (!head) return LoadError{LoadFault::kDoesNotFit, "boot_params at " + hex(zero_page) + " is outside RAM"};
  const SetupDataHeader header{*head, type, static_cast<uint32_t>(payload.size())};
  if (!memory.write_object(node_address, header) || !memory.write(node_address + sizeof header, payload)) {
    return LoadError{LoadFault::kDoesNotFit, "the setup_data node at " + hex(node_address) + " is outside RAM"};
  }
  if (!memory.write_object(zero_page + kSetupDataField, node_address)) return LoadError{LoadFault::kDoesNotFit, "boot_params is outside RAM"};
  return {};
}

}  // namespace ember::boot
