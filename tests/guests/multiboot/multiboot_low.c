/* A multiboot image linked at 0x8000, below 1 MiB, as real-mode test images
 * are: ember loads it because nothing of its own is there for a 32-bit entry
 * (src/boot/low_memory.h), and it runs as any multiboot program does. */
#include "runtime/guest.h"

extern char image_start[], bss_end[];
extern uint32_t multiboot_magic;

int guest_main(void) {
  if ((uintptr_t)image_start != 0x8000) guest_fail("not linked at 0x8000");
  if (multiboot_magic != 0x2badb002) guest_fail("entered without the multiboot magic");
  serial_print("multiboot image at 0x8000 ok\n");
  return 0;
}
