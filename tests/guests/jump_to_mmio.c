/* Jumps into the MMIO hole, where there is no RAM to fetch instructions
 * from. KVM cannot run or emulate code there (it ends KVM_RUN with
 * KVM_EXIT_INTERNAL_ERROR, or an MMIO exit for an instruction fetch); ember
 * must stop the VM with a report, not crash or spin (tests/HOSTILE-INPUTS.md: "KVM
 * internal errors"). Prints a line first so the test sees it got this far. */
#include "runtime/guest.h"

int guest_main(void) {
  serial_print("jumping to 0xd8000000\n");
  void (*nowhere)(void) = (void (*)(void))(uintptr_t)0xd8000000u; /* MMIO hole, no device */
  nowhere();
  return 3;
}
