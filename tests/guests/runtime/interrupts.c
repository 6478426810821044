#include "interrupts.h"

struct __attribute__((packed)) idt_gate {
  uint16_t offset_low;
  uint16_t selector;
  uint8_t  ist;
  uint8_t  type_attributes;
  uint16_t offset_middle;
  uint32_t offset_high;
  uint32_t reserved;
};

static struct idt_gate idt[256] __attribute__((aligned(16)));
static interrupt_handler handlers[256];
extern char isr_stubs_start[];

#define KERNEL_CODE_SELECTOR 0x10 /* ember's boot GDT */

void idt_load(void) {
  struct __attribute__((packed)) { uint16_t limit; uint64_t base; } pointer = {sizeof idt - 1, (uint64_t)(uintptr_t)idt};
  __asm__ volatile("lidt %0" : : "m"(pointer));
}

void idt_init(void) {
  for (int vector = 0; vector < 256; vector++) {
    const uint64_t address = (uint64_t)(uintptr_t)(isr_stubs_start + vector * 16);
    idt[vector].offset_low = (uint16_t)address;
    idt[vector].selector = KERNEL_CODE_SELECTOR;
    idt[vector].ist = 0;
    idt[vector].type_attributes = 0x8e; /* present, DPL 0, 64-bit interrupt gate */
    idt[vector].offset_middle = (uint16_t)(address >> 16);
    idt[vector].offset_high = (uint32_t)(address >> 32);
    idt[vector].reserved = 0;
  }
  idt_load();
}

void set_handler(uint8_t vector, interrupt_handler handler) { handlers[vector] = handler; }

volatile uint32_t interrupt_count[256];

void count_and_eoi(uint8_t vector) {
  interrupt_count[vector]++;
  lapic_eoi();
}

void interrupt_dispatch(uint64_t vector, uint64_t error_code) {
  if (handlers[vector]) {
    handlers[vector]((uint8_t)vector);
    return;
  }
  if (vector == 0xff) return; /* spurious: no EOI (SDM 11.9) */
  serial_print("unexpected interrupt/exception ");
  serial_print_dec(vector);
  serial_print(" error ");
  serial_print_hex(error_code);
  serial_print("\n");
  guest_exit(99);
}

void lapic_enable(void) { lapic_write(LAPIC_SVR, 0x1ff); }

void lapic_send_ipi(uint32_t destination, uint32_t icr_low) {
  lapic_write(LAPIC_ICR_HIGH, destination << 24);
  lapic_write(LAPIC_ICR_LOW, icr_low);
}

uint32_t cpuid_1_edx(void) {
  uint32_t eax = 1, ebx, ecx = 0, edx;
  __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  return edx;
}

void expect_equal(const char* what, uint64_t got, uint64_t want) {
  if (got == want) return;
  serial_print("FAIL: ");
  serial_print(what);
  serial_print(": got ");
  serial_print_hex(got);
  serial_print(", want ");
  serial_print_hex(want);
  serial_print("\n");
  guest_exit(1);
}

uint32_t cpuid_1_ecx(void) {
  uint32_t eax = 1, ebx, ecx = 0, edx;
  __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  return ecx;
}

uint32_t cpu_count(void) {
  uint32_t eax = 1, ebx, ecx = 0, edx;
  __asm__ volatile("cpuid" : "+a"(eax), "=b"(ebx), "+c"(ecx), "=d"(edx));
  const uint32_t count = (ebx >> 16) & 0xff;
  return count ? count : 1;
}

void ioapic_write(uint32_t reg, uint32_t value) {
  *(volatile uint32_t*)0xfec00000ul = reg;
  *(volatile uint32_t*)0xfec00010ul = value;
}

uint32_t ioapic_read(uint32_t reg) {
  *(volatile uint32_t*)0xfec00000ul = reg;
  return *(volatile uint32_t*)0xfec00010ul;
}

void spin(uint64_t cycles) {
  const uint64_t start = rdtsc();
  while (rdtsc() - start < cycles) __asm__ volatile("" ::: "memory");
}

int wait_for_count(volatile uint32_t* counter, uint32_t value, uint64_t cycles) {
  const uint64_t start = rdtsc();
  while (*counter < value) {
    if (rdtsc() - start >= cycles) return *counter >= value;
    cpu_relax();
  }
  return 1;
}
