#include "multiboot/fw_cfg.h"

#include "runtime/guest.h"

#define FW_CFG_PORT_SELECTOR 0x510
#define FW_CFG_PORT_DATA     0x511
#define FW_CFG_PORT_DMA      0x514

static inline void outw(uint16_t port, uint16_t value) { __asm__ volatile("outw %0, %1" : : "a"(value), "Nd"(port)); }

static uint32_t be32(uint32_t v) { return __builtin_bswap32(v); }

void fw_cfg_read(uint16_t key, void* out, uint32_t size) {
  outw(FW_CFG_PORT_SELECTOR, key);
  uint8_t* bytes = out;
  for (uint32_t i = 0; i < size; i++) bytes[i] = inb(FW_CFG_PORT_DATA);
}

int fw_cfg_dma_read(uint16_t key, void* out, uint32_t size) {
  static volatile struct {
    uint32_t control, length;
    uint64_t address;
  } __attribute__((aligned(16))) access;
  access.control = be32(((uint32_t)key << 16) | 0x08 /* select */ | 0x02 /* read */);
  access.length = be32(size);
  access.address = __builtin_bswap64((uint64_t)(uintptr_t)out);
  const uint64_t address = (uint64_t)(uintptr_t)&access;
  __asm__ volatile("" ::: "memory");
  outl(FW_CFG_PORT_DMA, be32((uint32_t)(address >> 32)));
  outl(FW_CFG_PORT_DMA + 4, be32((uint32_t)address));
  /* ember completes the transfer before the `out` returns; a device that
   * works asynchronously clears the control word when done. */
  while (be32(access.control) & ~0x01u) __asm__ volatile("pause");
  return (be32(access.control) & 0x01) ? -1 : 0;
}

uint16_t fw_cfg_find_file(const char* name, uint32_t* size) {
  uint32_t count;
  fw_cfg_read(FW_CFG_FILE_DIR, &count, sizeof count);
  count = be32(count);
  for (uint32_t i = 0; i < count; i++) {
    struct {
      uint32_t size;
      uint16_t select;
      uint16_t reserved;
      char name[56];
    } file;
    /* The directory streams on from where the count ended. */
    uint8_t* bytes = (uint8_t*)&file;
    for (uint32_t j = 0; j < sizeof file; j++) bytes[j] = inb(FW_CFG_PORT_DATA);
    size_t k = 0;
    while (name[k] && name[k] == file.name[k]) k++;
    if (name[k] == 0 && file.name[k] == 0) {
      *size = be32(file.size);
      return (uint16_t)__builtin_bswap16(file.select);
    }
  }
  return 0;
}
