/* Reports what ember described the machine with: the boot_params setup_data
 * chain (Documentation/x86/boot.rst) with an FNV-1a hash of each node's data,
 * whether a device tree node holds a whole flattened tree (Devicetree
 * Specification 5.2: big-endian magic 0xd00dfeed and totalsize), and whether
 * an MP floating pointer ("_MP_", MP spec 4.1) is in the BIOS area. */
#include "runtime/guest.h"

#define BP_SETUP_DATA 0x250 /* hdr.setup_data in zero-page.rst */
#define SETUP_DTB     2
#define FDT_MAGIC     0xd00dfeedu
#define MAX_NODES     8     /* a chain longer than this is a loop */

static uint32_t big_endian32(const uint8_t* p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t fnv1a(const uint8_t* data, uint32_t length) {
  uint32_t hash = 2166136261u;
  for (uint32_t i = 0; i < length; ++i) hash = (hash ^ data[i]) * 16777619u;
  return hash;
}

static int mp_floating_pointer_present(void) {
  for (uint64_t address = 0xf0000; address < 0x100000; address += 16) {
    const volatile char* p = (const volatile char*)address;
    if (p[0] == '_' && p[1] == 'M' && p[2] == 'P' && p[3] == '_') return 1;
  }
  return 0;
}

int guest_main(void) {
  uint64_t node = *(volatile uint64_t*)(boot_params_address + BP_SETUP_DATA);
  int count = 0;
  for (; node != 0; ++count) {
    if (count == MAX_NODES) guest_fail("the setup_data chain does not end");
    const uint32_t type = *(volatile uint32_t*)(node + 8);
    const uint32_t length = *(volatile uint32_t*)(node + 12);
    const uint8_t* data = (const uint8_t*)(node + 16);
    serial_print("setup_data type ");
    serial_print_dec(type);
    serial_print(" length ");
    serial_print_dec(length);
    serial_print(" fnv1a ");
    serial_print_hex(fnv1a(data, length));
    serial_print("\n");
    if (type == SETUP_DTB) {
      if (length < 8 || big_endian32(data) != FDT_MAGIC) guest_fail("the SETUP_DTB node holds no flattened device tree");
      if (big_endian32(data + 4) != length) guest_fail("the tree's totalsize is not the node's length");
      serial_print("device tree: magic and totalsize match\n");
    }
    node = *(volatile uint64_t*)node;
  }
  if (count == 0) serial_print("setup_data: none\n");
  serial_print(mp_floating_pointer_present() ? "mp table: present\n" : "mp table: absent\n");
  serial_print("cmdline: [");
  serial_print(boot_cmdline());
  serial_print("]\n");
  return 0;
}
