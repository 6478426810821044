/* Instructions that some hosts' KVM cannot emulate for CPL-0 guest code
 * (src/emulation/instruction_emulator.h): popcnt (register and memory source), fwait,
 * int3 into a #BP handler, and stac/clac when SMAP exists. On hardware they
 * run natively; where KVM stops on them, ember emulates them. The results
 * must be the same either way. */
#include "runtime/interrupts.h"

static volatile uint32_t breakpoints;
static volatile uint64_t after_int3;

static void on_breakpoint(uint8_t vector) {
  (void)vector;
  breakpoints++;
}

static uint64_t flags(void) {
  uint64_t value;
  __asm__ volatile("pushfq; popq %0" : "=r"(value));
  return value;
}

int guest_main(void) {
  idt_init();
  set_handler(3, on_breakpoint);

  uint32_t count32;
  uint64_t rflags;
  __asm__ volatile("popcnt %2, %0; pushfq; popq %1" : "=r"(count32), "=r"(rflags) : "r"(0xf0f0u) : "cc");
  if (count32 != 8 || (rflags & (1u << 6))) {
    serial_print("popcnt gave ");
    serial_print_dec(count32);
    serial_print(", rflags ");
    serial_print_hex(rflags);
    serial_print("\n");
    guest_fail("popcnt r32, r32");
  }
  __asm__ volatile("popcnt %2, %0; pushfq; popq %1" : "=r"(count32), "=r"(rflags) : "r"(0u) : "cc");
  if (count32 != 0 || !(rflags & (1u << 6))) guest_fail("popcnt of 0 must set ZF");
  static volatile uint64_t memory_source = 0xffff0000ffff0001ull;
  uint64_t count64 = 0x1234;
  __asm__ volatile("popcnt %1, %0" : "=r"(count64) : "m"(memory_source) : "cc");
  if (count64 != 33) guest_fail("popcnt r64, m64");

  __asm__ volatile("fninit; fwait" ::: "memory"); /* no exception pending: fwait is a no-op */

  __asm__ volatile("int3; movq $1, %0" : "=m"(after_int3) : : "memory");
  if (breakpoints != 1 || after_int3 != 1) guest_fail("int3 must reach the #BP handler once and return after it");

  uint32_t eax = 7, ebx, ecx = 0, edx;
  __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  if (ebx & (1u << 20)) { /* SMAP */
    uint64_t cr4;
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    __asm__ volatile("mov %0, %%cr4" : : "r"(cr4 | (1ull << 21)));
    __asm__ volatile("stac" ::: "cc");
    if (!(flags() & (1u << 18))) guest_fail("stac must set RFLAGS.AC");
    __asm__ volatile("clac" ::: "cc");
    if (flags() & (1u << 18)) guest_fail("clac must clear RFLAGS.AC");
    __asm__ volatile("mov %0, %%cr4" : : "r"(cr4));
  }
  serial_print("popcnt, fwait, int3 and stac/clac behave as on hardware\n");
  return 0;
}
