#include "guest.h"

uint64_t boot_params_address;

/* boot_params offsets (Documentation/x86/zero-page.rst). */
#define BP_E820_ENTRIES 0x1e8
#define BP_CMD_LINE_PTR 0x228
#define BP_E820_TABLE   0x2d0

void* memset(void* d, int c, size_t n) {
  unsigned char* p = d;
  while (n--) *p++ = (unsigned char)c;
  return d;
}

void* memcpy(void* d, const void* s, size_t n) {
  unsigned char* p = d;
  const unsigned char* q = s;
  while (n--) *p++ = *q++;
  return d;
}

size_t strlen(const char* s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

void serial_putc(char c) {
  while ((inb(GUEST_COM1 + 5) & 0x20) == 0) { /* wait for THR empty */ }
  outb(GUEST_COM1, (uint8_t)c);
}

void serial_print(const char* text) {
  while (*text) serial_putc(*text++);
}

void serial_print_hex(uint64_t value) {
  serial_print("0x");
  int started = 0;
  for (int shift = 60; shift >= 0; shift -= 4) {
    const unsigned digit = (unsigned)(value >> shift) & 0xf;
    if (digit || started || shift == 0) {
      serial_putc((char)(digit < 10 ? '0' + digit : 'a' + digit - 10));
      started = 1;
    }
  }
}

void serial_print_dec(uint64_t value) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = (char)('0' + value % 10);
    value /= 10;
  } while (value);
  while (n) serial_putc(digits[--n]);
}

void guest_exit(int status) {
  outb(GUEST_EXIT_PORT, (uint8_t)status);
  for (;;) __asm__ volatile("cli; hlt");
}

void guest_fail(const char* why) {
  serial_print("FAIL: ");
  serial_print(why);
  serial_print("\n");
  guest_exit(1);
}

/* Multiboot programs (multiboot/entry.S) define this; others do not. */
extern uint32_t multiboot_info_address __attribute__((weak));

const char* boot_cmdline(void) {
  if (!boot_params_address) {
    /* A multiboot boot: the command line is in the multiboot information
     * (flags bit 2), as ember and QEMU's -append put it. */
    if (&multiboot_info_address == 0 || !multiboot_info_address) return "";
    const volatile uint32_t* info = (const volatile uint32_t*)(uintptr_t)multiboot_info_address;
    return (info[0] & 4) && info[4] ? (const char*)(uintptr_t)info[4] : "";
  }
  const uint32_t pointer = *(volatile uint32_t*)(boot_params_address + BP_CMD_LINE_PTR);
  return pointer ? (const char*)(uintptr_t)pointer : "";
}

uint32_t e820_count(void) { return *(volatile uint8_t*)(boot_params_address + BP_E820_ENTRIES); }

void e820_entry(uint32_t index, uint64_t* address, uint64_t* size, uint32_t* type) {
  const uint64_t entry = boot_params_address + BP_E820_TABLE + (uint64_t)index * 20;
  *address = *(volatile uint64_t*)entry;
  *size = *(volatile uint64_t*)(entry + 8);
  *type = *(volatile uint32_t*)(entry + 16);
}

uint64_t cmdline_number(const char* key, uint64_t fallback) {
  const char* line = boot_cmdline();
  const size_t key_length = strlen(key);
  for (const char* p = line; *p; p++) {
    if ((p != line && p[-1] != ' ') || p[key_length] != '=') continue;
    size_t i = 0;
    while (i < key_length && p[i] == key[i]) i++;
    if (i != key_length) continue;
    const char* digits = p + key_length + 1;
    unsigned base = 10;
    if (digits[0] == '0' && digits[1] == 'x') {
      base = 16;
      digits += 2;
    }
    uint64_t value = 0;
    int any = 0;
    for (; *digits && *digits != ' '; digits++, any = 1) {
      const char c = *digits;
      unsigned digit;
      if (c >= '0' && c <= '9') digit = (unsigned)(c - '0');
      else if (base == 16 && c >= 'a' && c <= 'f') digit = (unsigned)(c - 'a' + 10);
      else return fallback;
      value = value * base + digit;
    }
    return any ? value : fallback;
  }
  return fallback;
}

uint64_t median_u64(uint64_t* values, int count) {
  for (int i = 1; i < count; i++) { /* insertion sort: benchmark sample counts are small */
    const uint64_t value = values[i];
    int j = i - 1;
    while (j >= 0 && values[j] > value) {
      values[j + 1] = values[j];
      j--;
    }
    values[j + 1] = value;
  }
  return values[count / 2];
}
