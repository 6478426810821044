/* Start-up code for application processors. A SIPI with vector 0x30 starts
 * an AP in real mode at 0x30000 (SDM Vol. 3A 9.4.4); smp.c copies the code
 * between trampoline_start and trampoline_end there. It switches to
 * protected mode, then long mode, with the boot CPU's GDT and page tables
 * (smp.c fills in trampoline_gdt_base and trampoline_cr3 before copying; the
 * GDT has ember's boot GDT selectors, which multiboot/entry.S copies), and
 * jumps to ap_entry64. */
#include "enter_long_mode.h"

        .set    TRAMPOLINE_BASE, 0x30000
        .set    CODE32, 0x28
        .set    CODE64, 0x10
        .set    DATA, 0x18

        .section .data
        .code16
        .globl  trampoline_start, trampoline_end
trampoline_start:
        cli
        mov     %cs, %ax
        mov     %ax, %ds
        lgdtl   (gdt_pointer - trampoline_start)
        mov     %cr0, %eax
        and     $0x9fffffff, %eax           /* clear CD and NW left by INIT */
        or      $1, %eax                    /* PE */
        mov     %eax, %cr0
        ljmpl   $CODE32, $(TRAMPOLINE_BASE + (protected - trampoline_start))

        .code32
protected:
        mov     $DATA, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     %ax, %fs
        mov     %ax, %gs
        ENTER_LONG_MODE (TRAMPOLINE_BASE + (trampoline_cr3 - trampoline_start)), $CODE64, $(TRAMPOLINE_BASE + (long_mode - trampoline_start))

        .code64
long_mode:
        movabs  $ap_entry64, %rax
        jmp     *%rax

        .balign 8
        .globl  trampoline_gdt_limit, trampoline_gdt_base, trampoline_cr3
gdt_pointer:
trampoline_gdt_limit:
        .word   0
trampoline_gdt_base:
        .long   0
trampoline_cr3:
        .long   0
trampoline_end:

        .text
        .globl  ap_entry64
ap_entry64:
        /* A 16 KiB stack per APIC ID. */
        movabs  $0xfee00020, %rbx
        mov     (%rbx), %eax
        shr     $24, %eax
        mov     %eax, %edi
        inc     %eax
        shl     $14, %rax
        lea     ap_stacks(%rip), %rsp
        add     %rax, %rsp
        call    ap_main
1:      cli
        hlt
        jmp     1b

        .section .bss
        .balign 16
ap_stacks:
        .skip   16384 * 16
