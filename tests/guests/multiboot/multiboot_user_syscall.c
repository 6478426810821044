/* The user-mode SYSCALL probe (../user_syscall.c) as a multiboot program, so
 * the same check runs under QEMU's TCG, whose CPU model is exact. */
#include "../user_syscall.c"
