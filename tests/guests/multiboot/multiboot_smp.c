/* A multiboot guest program: checks what the boot loader handed over (magic,
 * memory map, command line), reads the CPU count and RAM size through fw_cfg
 * (ports and DMA) and cross-checks them with the multiboot information and
 * the e820 file, prints each module's size, string and a checksum of its
 * bytes, brings up every other CPU with INIT/SIPI, and exits through
 * a QEMU-style debug-exit device with value 10 + CPUs online, so the runner
 * expects status ((10 + cpus) << 1) | 1. Any failure exits with value 1. */
#include "multiboot/fw_cfg.h"
#include "runtime/guest.h"
#include "runtime/interrupts.h"
#include "runtime/smp.h"

extern uint32_t multiboot_magic, multiboot_info_address;

struct multiboot_info {
  uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
};

struct multiboot_module {
  uint32_t start, end, string, reserved;
};

struct __attribute__((packed)) mmap_entry {
  uint32_t size;
  uint64_t base, length;
  uint32_t type;
};

static void check(int ok, const char* what) {
  if (!ok) guest_fail(what);
}

int guest_main(void) {
  check(multiboot_magic == 0x2badb002, "EAX did not hold the multiboot boot loader magic");
  const struct multiboot_info* info = (const struct multiboot_info*)(uintptr_t)multiboot_info_address;
  check((info->flags & 0x1) && (info->flags & 0x40), "no memory sizes or memory map in the multiboot information");
  check(info->mem_lower == 639 || info->mem_lower == 640, "mem_lower is not 640 KiB of conventional memory");
  if (info->flags & 0x4) {
    serial_print("multiboot: cmdline \"");
    serial_print((const char*)(uintptr_t)info->cmdline);
    serial_print("\"\n");
  }

  /* Modules (flags bit 3): what the loader put where, so a test can check
   * the bytes against the file it named. */
  if (info->flags & 0x8) {
    const struct multiboot_module* modules = (const struct multiboot_module*)(uintptr_t)info->mods_addr;
    for (uint32_t i = 0; i < info->mods_count; ++i) {
      check(modules[i].end >= modules[i].start, "a module ends before it starts");
      uint32_t sum = 0;
      for (uint32_t a = modules[i].start; a < modules[i].end; ++a) sum = sum * 31 + *(const volatile uint8_t*)(uintptr_t)a;
      serial_print("multiboot: module ");
      serial_print_dec(i);
      serial_print(" \"");
      serial_print((const char*)(uintptr_t)modules[i].string);
      serial_print("\" ");
      serial_print_dec(modules[i].end - modules[i].start);
      serial_print(" bytes, sum ");
      serial_print_dec(sum);
      serial_print("\n");
    }
  }

  /* The multiboot memory map: where the last range starting below 3 GiB
   * ends (firmware may reserve the top of RAM for its tables, so the last
   * range need not be available RAM). */
  uint64_t mmap_top = 0;
  for (uint32_t offset = 0; offset < info->mmap_length;) {
    const struct mmap_entry* e = (const struct mmap_entry*)(uintptr_t)(info->mmap_addr + offset);
    if (e->base < 0xc0000000ull && e->base + e->length > mmap_top) mmap_top = e->base + e->length;
    offset += e->size + 4;
  }

  char signature[4];
  fw_cfg_read(FW_CFG_SIGNATURE, signature, sizeof signature);
  check(signature[0] == 'Q' && signature[1] == 'E' && signature[2] == 'M' && signature[3] == 'U', "fw_cfg signature is not QEMU");
  uint32_t id = 0;
  fw_cfg_read(FW_CFG_ID, &id, sizeof id);
  check(id & 0x2, "fw_cfg does not offer DMA");
  uint16_t cpus = 0;
  fw_cfg_read(FW_CFG_NB_CPUS, &cpus, sizeof cpus);
  uint64_t ram = 0;
  check(fw_cfg_dma_read(FW_CFG_RAM_SIZE, &ram, sizeof ram) == 0, "fw_cfg DMA read of the RAM size failed");
  serial_print("fw_cfg: ");
  serial_print_dec(cpus);
  serial_print(" CPUs, RAM ");
  serial_print_dec(ram >> 20);
  serial_print(" MiB\n");
  check(cpus >= 1 && cpus <= 16, "fw_cfg CPU count out of range");

  /* Below the 3 GiB PCI hole the three views agree: fw_cfg's RAM size, the
   * end of the multiboot memory map, and 1 MiB + mem_upper KiB (less what
   * firmware keeps at the top, at most 1 MiB). */
  if (ram <= 0xc0000000ull) {
    check(mmap_top == ram, "the multiboot memory map does not end at fw_cfg's RAM size");
    const uint64_t upper_end = 0x100000ull + (uint64_t)info->mem_upper * 1024;
    check(upper_end <= ram && upper_end + 0x100000 >= ram, "mem_upper disagrees with fw_cfg's RAM size");
  }
  uint32_t e820_size = 0;
  const uint16_t e820 = fw_cfg_find_file("etc/e820", &e820_size);
  check(e820 != 0 && e820_size % 20 == 0 && e820_size > 0, "fw_cfg has no etc/e820 file");

  idt_load();
  lapic_enable();
  const uint32_t aps = start_cpus(cpus, 0);
  serial_print("smp: ");
  serial_print_dec(aps + 1);
  serial_print(" CPUs online\n");
  check(aps + 1 == cpus, "not every CPU came up");
  return 10 + (int)(aps + 1);
}
