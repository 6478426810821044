/* Writes bytes=N (default 4 MiB, a multiple of 4 KiB) to COM1's THR as
 * fast as it can: lines of 63 'x' and a newline, one `rep outsb` per 4 KiB
 * (a KVM exit carries up to a page of string I/O), then exits 0. The test
 * blocks ember's stdout meanwhile: the VCPU must wait for the console rather
 * than ember buffering the flood (tests/HOSTILE-INPUTS.md: "THR floods while the host
 * console is blocked (memory stays bounded)"). */
#include "runtime/guest.h"

static char page[4096];

int guest_main(void) {
  for (uint32_t i = 0; i < sizeof page; ++i) page[i] = (i + 1) % 64 == 0 ? '\n' : 'x';
  const uint64_t pages = cmdline_number("bytes", 4u << 20) / sizeof page;
  for (uint64_t p = 0; p < pages; ++p) {
    const char* source = page;
    uint64_t count = sizeof page;
    __asm__ volatile("rep outsb" : "+S"(source), "+c"(count) : "d"((uint16_t)GUEST_COM1) : "memory");
  }
  return 0;
}
