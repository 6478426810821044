/* Can guest user mode enter the kernel with SYSCALL? The program builds a
 * Linux-like GDT (kernel CS 0x10, user CS 0x33, as STAR describes), a TSS
 * and an IDT, drops to CPL 3 with IRETQ and runs SYSCALL. Its LSTAR handler
 * proves it is at CPL 0 by reading CR3 (a #GP at CPL 3) and returns to user
 * mode with SYSRETQ; user mode then calls SYSCALL again to finish.
 *
 * ember plays no part in this (KVM runs all of it), so the program is a
 * probe of the host: on hardware VMX/SVM it exits 0. On the nested
 * development host (kvm_pvm) SYSCALL from CPL 3 jumps to LSTAR but stays at
 * CPL 3, so a stock Linux's user space dies at its first system call; the
 * program then exits 77 ("not offered here") and says so. Any other fault
 * fails the program. */
#include "runtime/guest.h"

#define KERNEL_CS 0x10
#define KERNEL_DS 0x18
#define USER32_CS 0x23 /* STAR[63:48]: SYSRETQ loads CS = this + 16, SS = this + 8 */
#define USER_DS   0x2b
#define USER_CS   0x33
#define TSS_SEL   0x40

struct __attribute__((packed)) gate {
  uint16_t offset_low, selector;
  uint8_t ist, attributes;
  uint16_t offset_middle;
  uint32_t offset_high, reserved;
};
static struct gate idt[32] __attribute__((aligned(16)));
static uint64_t gdt[10] __attribute__((aligned(16)));
static struct __attribute__((packed)) {
  uint32_t reserved0;
  uint64_t rsp0, rsp1, rsp2, reserved1, ist[7], reserved2;
  uint16_t reserved3, iomap_base;
} tss;
static uint8_t kernel_stack[8192] __attribute__((aligned(16)));
static uint8_t user_stack[8192] __attribute__((aligned(16)));

/* Written by the assembly below. */
volatile uint64_t syscalls_at_cpl0, cr3_seen, fault_vector = ~0ull, fault_rip, fault_cs, kernel_rsp;
extern char user_code[], syscall_entry[], gp_entry[], ud_entry[], pf_entry[];

__asm__(
    ".text\n"
    /* CPL 3: two system calls; the first returns here by SYSRETQ. */
    "user_code:\n"
    "  mov $1, %edi\n"
    "  syscall\n"
    "  mov $2, %edi\n"
    "  syscall\n"
    "  ud2\n"
    /* LSTAR: RCX = user RIP, R11 = user RFLAGS, RSP still the user's. */
    "syscall_entry:\n"
    "  mov %cr3, %rax\n"
    "  mov %rax, cr3_seen(%rip)\n"
    "  incq syscalls_at_cpl0(%rip)\n"
    "  cmp $1, %edi\n"
    "  jne 1f\n"
    "  sysretq\n"
    "1:\n"
    "  mov kernel_rsp(%rip), %rsp\n"
    "  jmp back_in_kernel\n"
    /* Faults: record vector, RIP and CS of the faulting frame, end the test. */
    "ud_entry:\n  pushq $0\n  pushq $6\n  jmp fault_common\n"
    "gp_entry:\n  pushq $13\n  jmp fault_common\n"
    "pf_entry:\n  pushq $14\n  jmp fault_common\n"
    "fault_common:\n"
    "  pop %rax\n  mov %rax, fault_vector(%rip)\n"
    "  mov 8(%rsp), %rax\n  mov %rax, fault_rip(%rip)\n"
    "  mov 16(%rsp), %rax\n  mov %rax, fault_cs(%rip)\n"
    "  mov kernel_rsp(%rip), %rsp\n"
    "  jmp back_in_kernel\n");

static void set_gate(int vector, const void* handler) {
  const uint64_t a = (uint64_t)(uintptr_t)handler;
  idt[vector] = (struct gate){(uint16_t)a, KERNEL_CS, 0, 0x8e, (uint16_t)(a >> 16), (uint32_t)(a >> 32), 0};
}

static void wrmsr(uint32_t msr, uint64_t value) {
  __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)));
}
static uint64_t rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}

static void load_tables(void) {
  gdt[KERNEL_CS >> 3] = 0x00af9b000000ffffull;
  gdt[KERNEL_DS >> 3] = 0x00cf93000000ffffull;
  gdt[USER32_CS >> 3] = 0x00cffb000000ffffull;
  gdt[USER_DS >> 3] = 0x00cff3000000ffffull;
  gdt[USER_CS >> 3] = 0x00affb000000ffffull;
  const uint64_t t = (uint64_t)(uintptr_t)&tss;
  gdt[TSS_SEL >> 3] = (sizeof tss - 1) | ((t & 0xffffff) << 16) | (0x89ull << 40) | (((t >> 24) & 0xff) << 56);
  gdt[(TSS_SEL >> 3) + 1] = t >> 32;
  tss.rsp0 = (uint64_t)(uintptr_t)(kernel_stack + sizeof kernel_stack);
  tss.iomap_base = sizeof tss;
  struct __attribute__((packed)) { uint16_t limit; uint64_t base; } g = {sizeof gdt - 1, (uint64_t)(uintptr_t)gdt},
                                                                    i = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
  __asm__ volatile(
      "lgdt %0\n"
      "pushq $0x10\n lea 1f(%%rip), %%rax\n pushq %%rax\n lretq\n"
      "1: mov $0x18, %%ax\n mov %%ax, %%ds\n mov %%ax, %%es\n mov %%ax, %%ss\n"
      "mov $0x40, %%ax\n ltr %%ax\n"
      "lidt %1\n"
      :
      : "m"(g), "m"(i)
      : "rax", "memory");
}

/* User mode may touch the program's own 2 MiB page: set the U bit along the
 * identity map (ember's, or multiboot/entry.S's) down to that page. */
static void open_program_page_to_user_mode(void) {
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
  uint64_t* pml4 = (uint64_t*)(uintptr_t)(cr3 & ~0xfffull);
  pml4[0] |= 4;
  uint64_t* pdpt = (uint64_t*)(uintptr_t)(pml4[0] & 0xffffffffff000ull);
  pdpt[0] |= 4;
  uint64_t* pd = (uint64_t*)(uintptr_t)(pdpt[0] & 0xffffffffff000ull);
  pd[((uint64_t)(uintptr_t)user_code >> 21) & 511] |= 4;
  __asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

int guest_main(void) {
  load_tables();
  set_gate(6, ud_entry);
  set_gate(13, gp_entry);
  set_gate(14, pf_entry);
  open_program_page_to_user_mode();
  wrmsr(0xc0000080, rdmsr(0xc0000080) | 1);                                     /* EFER.SCE */
  wrmsr(0xc0000081, ((uint64_t)USER32_CS << 48) | ((uint64_t)KERNEL_CS << 32)); /* STAR */
  wrmsr(0xc0000082, (uint64_t)(uintptr_t)syscall_entry);                        /* LSTAR */
  wrmsr(0xc0000084, 0x200);                                                     /* FMASK: IF */

  __asm__ volatile(
      "mov %%rsp, kernel_rsp(%%rip)\n"
      "pushq %0\n pushq %1\n pushq $0x2\n pushq %2\n pushq %3\n"
      "iretq\n"
      ".globl back_in_kernel\n"
      "back_in_kernel:\n"
      "mov $0x18, %%ax\n mov %%ax, %%ds\n mov %%ax, %%es\n"
      :
      : "i"(USER_DS), "r"((uint64_t)(uintptr_t)(user_stack + sizeof user_stack)), "i"(USER_CS),
        "r"((uint64_t)(uintptr_t)user_code)
      : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory");

  if (syscalls_at_cpl0 == 2 && fault_vector == ~0ull) {
    serial_print("user mode: SYSCALL entered CPL 0 twice, SYSRETQ returned to CPL 3\n");
    return 0;
  }
  if (syscalls_at_cpl0 == 0 && fault_vector == 13 && fault_rip == (uint64_t)(uintptr_t)syscall_entry && (fault_cs & 3) == 3) {
    serial_print("user mode: this host's KVM runs SYSCALL from CPL 3 to LSTAR without leaving CPL 3\n");
    return 77;
  }
  serial_print("FAIL: syscalls at CPL 0 ");
  serial_print_dec(syscalls_at_cpl0);
  serial_print(", fault vector ");
  serial_print_hex(fault_vector);
  serial_print(" at ");
  serial_print_hex(fault_rip);
  serial_print(" cs ");
  serial_print_hex(fault_cs);
  serial_print("\n");
  return 1;
}
