/* Reads and writes where no device lives: reads must return all-ones and the
 * writes must be dropped without harm. Exits 0 when both reads are all-ones. */
#include "runtime/guest.h"

int guest_main(void) {
  volatile uint32_t* hole = (volatile uint32_t*)(uintptr_t)0xd0000000u; /* MMIO hole, nothing mapped */
  const uint32_t port_value = inl(0x7c);                                /* unassigned on a PC */
  *hole = 0x12345678u;
  outb(0x7c, 0x55);
  const uint32_t mmio_value = *hole;
  serial_print("port read ");
  serial_print_hex(port_value);
  serial_print(", mmio read ");
  serial_print_hex(mmio_value);
  serial_print("\n");
  return port_value == 0xffffffffu && mmio_value == 0xffffffffu ? 0 : 1;
}
