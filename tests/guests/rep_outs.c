/* String port I/O: a line printed with one `rep outsb` to COM1 (one KVM
 * exit, many bytes), then large counts where no device lives (tests/HOSTILE-INPUTS.md:
 * "rep outs/ins with large counts"): 64 KiB (16 pages, several exits each
 * way) out to an unmapped port is dropped, 64 KiB in from it reads
 * all-ones. Exits 0 when every byte read is 0xff, 1 otherwise. Where KVM
 * emulates string I/O element by element (kvm_amd under TCG), 256 KiB
 * took 20-56 s. */
#include "runtime/guest.h"

#define UNMAPPED_PORT 0x7c /* unassigned on a PC */
#define LARGE_COUNT   (64u * 1024u)

static uint8_t buffer[LARGE_COUNT];

int guest_main(void) {
  static const char line[] = "written by rep outsb\n";
  const char* source = line;
  uint64_t count = sizeof line - 1;
  __asm__ volatile("rep outsb" : "+S"(source), "+c"(count) : "d"((uint16_t)GUEST_COM1) : "memory");

  memset(buffer, 0x5a, sizeof buffer);
  const uint8_t* out = buffer;
  count = LARGE_COUNT / 2;
  __asm__ volatile("rep outsw" : "+S"(out), "+c"(count) : "d"((uint16_t)UNMAPPED_PORT) : "memory");
  uint8_t* in = buffer;
  count = LARGE_COUNT;
  __asm__ volatile("rep insb" : "+D"(in), "+c"(count) : "d"((uint16_t)UNMAPPED_PORT) : "memory");
  for (uint32_t i = 0; i < LARGE_COUNT; ++i) {
    if (buffer[i] != 0xff) guest_fail("rep insb from an unmapped port did not read all-ones");
  }
  return 0;
}
