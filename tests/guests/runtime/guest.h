/* The tiny runtime of ember's guest programs: port I/O, polled serial output
 * on COM1, the exit port, and the boot_params ember passes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define GUEST_EXIT_PORT 0xf4
#define GUEST_COM1      0x3f8

/* Every program defines this; its return value becomes ember's exit status. */
int guest_main(void);

static inline void outb(uint16_t port, uint8_t value) { __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) {
  uint8_t value;
  __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}
static inline void outl(uint16_t port, uint32_t value) { __asm__ volatile("outl %0, %1" : : "a"(value), "Nd"(port)); }
static inline uint32_t inl(uint16_t port) {
  uint32_t value;
  __asm__ volatile("inl %1, %0" : "=a"(value) : "Nd"(port));
  return value;
}

void serial_putc(char c);
void serial_print(const char* text);
void serial_print_hex(uint64_t value);
void serial_print_dec(uint64_t value);
__attribute__((noreturn)) void guest_exit(int status);
/* Prints "FAIL: why" and exits with status 1. */
__attribute__((noreturn)) void guest_fail(const char* why);

/* boot_params, as the Linux 64-bit boot protocol lays them out. */
extern uint64_t boot_params_address;
const char* boot_cmdline(void);
uint32_t    e820_count(void);
void        e820_entry(uint32_t index, uint64_t* address, uint64_t* size, uint32_t* type);

/* Parses "key=NUMBER" (decimal or 0x hex) from the command line; `fallback`
 * if absent or malformed. */
uint64_t cmdline_number(const char* key, uint64_t fallback);

/* Sorts `values` in place and returns the middle one (benchmarks). */
uint64_t median_u64(uint64_t* values, int count);

void* memset(void* d, int c, size_t n);
void* memcpy(void* d, const void* s, size_t n);
size_t strlen(const char* s);
