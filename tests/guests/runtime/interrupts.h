/* IDT, handlers and the local APIC for guest programs. */
#pragma once

#include "guest.h"

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

typedef void (*interrupt_handler)(uint8_t vector);

/* Builds and loads the IDT (shared by all CPUs). Exceptions without a
 * handler end the program with status 99 after printing the vector. */
void idt_init(void);
void idt_load(void); /* on each AP */
void set_handler(uint8_t vector, interrupt_handler handler);

/* The handler most programs need: counts the vector in interrupt_count[]
 * and signals EOI to the LAPIC (xAPIC mode). */
extern volatile uint32_t interrupt_count[256];
void count_and_eoi(uint8_t vector);

static inline void enable_interrupts(void) { __asm__ volatile("sti" ::: "memory"); }
static inline void disable_interrupts(void) { __asm__ volatile("cli" ::: "memory"); }
static inline void halt(void) { __asm__ volatile("hlt" ::: "memory"); }
/* sti;hlt: the interrupt shadow of sti covers hlt, so no wake-up is lost. */
static inline void wait_for_interrupt(void) { __asm__ volatile("sti; hlt" ::: "memory"); }
static inline void cpu_relax(void) { __asm__ volatile("pause" ::: "memory"); }

/* xAPIC registers (Intel SDM Vol. 3A Table 11-1). */
#define LAPIC_BASE      0xfee00000ul
#define LAPIC_ID        0x020
#define LAPIC_VERSION   0x030
#define LAPIC_TPR       0x080
#define LAPIC_PPR       0x0a0
#define LAPIC_EOI       0x0b0
#define LAPIC_LDR       0x0d0
#define LAPIC_DFR       0x0e0
#define LAPIC_SVR       0x0f0
#define LAPIC_ISR       0x100
#define LAPIC_IRR       0x200
#define LAPIC_ICR_LOW   0x300
#define LAPIC_ICR_HIGH  0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INITIAL 0x380
#define LAPIC_TIMER_CURRENT 0x390
#define LAPIC_TIMER_DIVIDE  0x3e0

static inline uint32_t lapic_read(uint32_t reg) { return *(volatile uint32_t*)(LAPIC_BASE + reg); }
static inline void lapic_write(uint32_t reg, uint32_t value) { *(volatile uint32_t*)(LAPIC_BASE + reg) = value; }
static inline uint32_t lapic_id(void) { return lapic_read(LAPIC_ID) >> 24; }
static inline void lapic_eoi(void) { lapic_write(LAPIC_EOI, 0); }

/* Software-enables this CPU's LAPIC with spurious vector 0xff. */
void lapic_enable(void);
/* Sends a fixed IPI; `icr_low_extra` adds shorthand/mode bits. */
void lapic_send_ipi(uint32_t destination, uint32_t icr_low);

static inline uint64_t rdmsr(uint32_t index) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(index));
  return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t index, uint64_t value) {
  __asm__ volatile("wrmsr" : : "c"(index), "a"((uint32_t)value), "d"((uint32_t)(value >> 32)) : "memory");
}
/* CPUID leaf 1 ECX and EDX. */
uint32_t cpuid_1_ecx(void);
uint32_t cpuid_1_edx(void);
/* Prints "FAIL: what: got G, want W" and exits with status 1 unless equal. */
void expect_equal(const char* what, uint64_t got, uint64_t want);
/* Exit status meaning "this host cannot offer what the program tests". */
#define GUEST_NOT_OFFERED 77

/* Number of CPUs, from CPUID leaf 1 EBX[23:16] as ember sets it. */
uint32_t cpu_count(void);

/* IOAPIC at 0xfec00000 (82093AA). */
void ioapic_write(uint32_t reg, uint32_t value);
uint32_t ioapic_read(uint32_t reg);

/* Delays and waits are measured in TSC cycles, not loop turns: on a nested
 * host guest code at CPL 0 may run in KVM's instruction emulator, hundreds
 * of times slower than on hardware, and a delay must mean the same there.
 * The TSC runs at 1-5 GHz on any x86-64 host. */
#define MILLION_CYCLES 1000000ull
void spin(uint64_t cycles);
/* Waits until *counter reaches `value` or `cycles` pass; returns whether it
 * got there. */
int wait_for_count(volatile uint32_t* counter, uint32_t value, uint64_t cycles);

