/* The switch from 32-bit protected mode to long mode (SDM Vol. 3A 10.8.5),
 * shared by the AP trampoline and the multiboot entry: PAE on, CR3 from
 * `cr3` (any 32-bit source operand), EFER.LME on, paging on, then a far
 * jump to the 64-bit code selector and `target`. Clobbers EAX, ECX, EDX. */
        .macro  ENTER_LONG_MODE cr3, code64, target
        mov     %cr4, %eax
        or      $0x20, %eax                 /* PAE */
        mov     %eax, %cr4
        mov     \cr3, %eax
        mov     %eax, %cr3
        mov     $0xc0000080, %ecx           /* EFER */
        rdmsr
        or      $0x100, %eax                /* LME */
        wrmsr
        mov     %cr0, %eax
        or      $0x80000000, %eax           /* PG: long mode is now active */
        mov     %eax, %cr0
        ljmp    \code64, \target
        .endm
