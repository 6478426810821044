/* virtio-blk requests for guest programs (virtio 1.2 §5.2.6): header,
 * optional data, status byte, as a three-descriptor chain. */
#pragma once

#include "virtio_mmio.h"

#define VIRTIO_BLK_T_IN 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_T_GET_ID 8
#define VIRTIO_BLK_F_RO (1ull << 5)
#define VIRTIO_BLK_F_FLUSH (1ull << 9)

/* Returns the status byte the device wrote (0 OK, 1 IOERR, 2 UNSUPP), or
 * -1 if the request did not complete. `data` is device-writable for reads
 * and GET_ID. */
int virtio_blk_request(struct virtio_device* d, uint32_t type, uint64_t sector, void* data, uint32_t length);
