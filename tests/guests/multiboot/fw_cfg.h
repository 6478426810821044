/* A guest's side of QEMU's fw_cfg device (QEMU docs/specs/fw_cfg.rst), for
 * ember's multiboot guest programs: the port interface and the DMA one. */
#pragma once

#include <stdint.h>

#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID        0x01
#define FW_CFG_RAM_SIZE  0x03
#define FW_CFG_NB_CPUS   0x05
#define FW_CFG_FILE_DIR  0x19

/* Selects `key` and reads `size` bytes from its start through port 0x511. */
void fw_cfg_read(uint16_t key, void* out, uint32_t size);
/* The same through the DMA interface; 0 on success. */
int fw_cfg_dma_read(uint16_t key, void* out, uint32_t size);
/* The selector of the named file from the file directory, or 0. Its size in *size. */
uint16_t fw_cfg_find_file(const char* name, uint32_t* size);
