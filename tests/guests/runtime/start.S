/* Entry of every guest program. ember enters in 64-bit mode with interrupts
 * off and RSI = the boot_params ("zero page") address. */
        .section .text.start, "ax"
        .globl _start
_start:
        lea     stack_top(%rip), %rsp
        mov     %rsi, boot_params_address(%rip)
        call    guest_main
        mov     %eax, %edi
        call    guest_exit

        .section .bss
        .balign 16
stack:
        .skip   16384
stack_top:
