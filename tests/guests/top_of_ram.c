/* Walks the e820 map, writes and reads back the last 8 bytes of every RAM
 * region, and checks the top of RAM equals expect_top=ADDRESS. Exits 0 when
 * all is well, 1 on a mismatch, 2 when the map has no RAM. */
#include "runtime/guest.h"

int guest_main(void) {
  uint64_t top = 0;
  for (uint32_t i = 0; i < e820_count(); i++) {
    uint64_t address, size;
    uint32_t type;
    e820_entry(i, &address, &size, &type);
    if (type != 1) continue;
    volatile uint64_t* last = (volatile uint64_t*)(uintptr_t)(address + size - 8);
    const uint64_t pattern = 0x5a5aa5a5c3c33c3cull ^ (address + size);
    *last = pattern;
    if (*last != pattern) {
      serial_print("readback failed at ");
      serial_print_hex(address + size - 8);
      serial_print("\n");
      return 1;
    }
    serial_print("RAM ");
    serial_print_hex(address);
    serial_print("-");
    serial_print_hex(address + size - 1);
    serial_print(" ok\n");
    if (address + size > top) top = address + size;
  }
  if (top == 0) return 2;
  serial_print("top of RAM ");
  serial_print_hex(top);
  serial_print("\n");
  const uint64_t expected = cmdline_number("expect_top", 0);
  return expected == top ? 0 : 1;
}
