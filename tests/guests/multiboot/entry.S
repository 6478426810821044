/* Entry of ember's multiboot guest programs. A multiboot (v1) boot loader
 * (ember, QEMU's -kernel, GRUB) enters `multiboot_entry` in 32-bit protected
 * mode, paging off, EAX = 0x2BADB002, EBX = the multiboot information, with
 * no GDT or stack it promises (Multiboot Specification 0.6.96, 3.2). This
 * code builds its own GDT (the same selectors as ember's boot GDT, so the AP
 * trampoline works under any loader) and page tables identity-mapping 4 GiB,
 * enters long mode and calls guest_main like every guest program.
 *
 * The header carries the address fields (flags bit 16), so the image loads
 * the same way whatever its ELF class. */
#include "runtime/enter_long_mode.h"

        .set    MB_MAGIC, 0x1badb002
        .set    MB_FLAGS, (1 << 1) | (1 << 16)    /* memory info; address fields */
        .set    CODE64, 0x10
        .set    DATA, 0x18
        .set    CODE32, 0x28

        .section .text.multiboot, "ax"
        .balign 4
multiboot_header:
        .long   MB_MAGIC
        .long   MB_FLAGS
        .long   -(MB_MAGIC + MB_FLAGS)
        .long   multiboot_header        /* header_addr */
        .long   image_start             /* load_addr */
        .long   load_end                /* load_end_addr */
        .long   bss_end                 /* bss_end_addr */
        .long   multiboot_entry         /* entry_addr */

        .code32
        .globl  multiboot_entry
multiboot_entry:
        cli
        mov     %eax, multiboot_magic
        mov     %ebx, multiboot_info_address
        lgdt    gdt_pointer
        ljmp    $CODE32, $1f
1:      mov     $DATA, %ax
        mov     %ax, %ds
        mov     %ax, %es
        mov     %ax, %ss
        mov     %ax, %fs
        mov     %ax, %gs

        /* PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 2 MiB
         * pages covering 4 GiB, the top GiB (LAPIC, IOAPIC) uncacheable. */
        mov     $pdpt, %eax
        or      $0x3, %eax
        mov     %eax, pml4
        xor     %ecx, %ecx
2:      mov     %ecx, %eax
        shl     $12, %eax
        add     $page_directories, %eax
        or      $0x3, %eax
        mov     %eax, pdpt(, %ecx, 8)
        inc     %ecx
        cmp     $4, %ecx
        jne     2b
        xor     %ecx, %ecx                  /* entry index over all four directories */
3:      mov     %ecx, %eax
        shl     $21, %eax                   /* low 32 bits of the 2 MiB frame */
        or      $0x83, %eax                 /* present, writable, 2 MiB */
        cmp     $(3 * 512), %ecx
        jb      4f
        or      $0x18, %eax                 /* PCD | PWT for 3-4 GiB */
4:      mov     %eax, page_directories(, %ecx, 8)
        inc     %ecx
        cmp     $(4 * 512), %ecx
        jne     3b

        ENTER_LONG_MODE $pml4, $CODE64, $long_mode

        .code64
long_mode:
        lea     stack_top(%rip), %rsp
        call    guest_main
        mov     %eax, %edi
        call    guest_exit

        .section .data
        .balign 8
gdt:
        .quad   0
        .quad   0
        .quad   0x00af9b000000ffff          /* 0x10: 64-bit code */
        .quad   0x00cf93000000ffff          /* 0x18: data */
        .quad   0                           /* 0x20: no TSS */
        .quad   0x00cf9b000000ffff          /* 0x28: 32-bit code */
gdt_end:
gdt_pointer:
        .word   gdt_end - gdt - 1
        .long   gdt

        .globl  multiboot_magic, multiboot_info_address
multiboot_magic:
        .long   0
multiboot_info_address:
        .long   0

        .section .bss
        .balign 4096
pml4:
        .skip   4096
pdpt:
        .skip   4096
page_directories:
        .skip   4 * 4096
        .balign 16
stack:
        .skip   16384
stack_top:
