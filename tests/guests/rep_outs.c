/* Prints a line with one `rep outsb` to COM1: one KVM exit, many bytes. */
#include "runtime/guest.h"

int guest_main(void) {
  static const char line[] = "written by rep outsb\n";
  const char* source = line;
  uint64_t count = sizeof line - 1;
  __asm__ volatile("rep outsb" : "+S"(source), "+c"(count) : "d"((uint16_t)GUEST_COM1) : "memory");
  return 0;
}
