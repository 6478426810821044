/* Interrupt entry stubs for guest programs: one per vector, each pushing a
 * dummy error code where the CPU pushes none (SDM Vol. 3A 6.13), then the
 * vector, then jumping to a common path that saves the caller-saved
 * registers and calls interrupt_dispatch(vector, error_code). */
        .text
        .macro  stub vector
        .balign 16
isr_\vector:
        .if (\vector == 8) || (\vector >= 10 && \vector <= 14) || (\vector == 17) || (\vector == 21) || (\vector == 29) || (\vector == 30)
        .else
        pushq   $0
        .endif
        pushq   $\vector
        jmp     isr_common
        .endm

        .altmacro
        .macro  stubs from, to
        stub    \from
        .if     \to-\from
        stubs   %(\from+1), \to
        .endif
        .endm

        stubs   0, 63
        stubs   64, 127
        stubs   128, 191
        stubs   192, 255

isr_common:
        push    %rbp
        push    %rax
        push    %rcx
        push    %rdx
        push    %rsi
        push    %rdi
        push    %r8
        push    %r9
        push    %r10
        push    %r11
        mov     80(%rsp), %rdi      /* vector, above the 10 saved registers */
        mov     88(%rsp), %rsi      /* error code */
        mov     %rsp, %rbp
        and     $-16, %rsp          /* the ABI wants a 16-byte-aligned stack at the call */
        call    interrupt_dispatch
        mov     %rbp, %rsp
        pop     %r11
        pop     %r10
        pop     %r9
        pop     %r8
        pop     %rdi
        pop     %rsi
        pop     %rdx
        pop     %rcx
        pop     %rax
        pop     %rbp
        add     $16, %rsp
        iretq

        /* The stubs are 16 bytes apart; the IDT builder needs the first one. */
        .globl  isr_stubs_start
        .set    isr_stubs_start, isr_0
