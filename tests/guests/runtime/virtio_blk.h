/* virtio-blk requests for guest programs (virtio 1.2 §5.2.6): header,
 * optional data, status byte, as a three-descriptor chain, one request at a
 * time or up to VIRTIO_BLK_SLOTS in flight. */
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

/* Requests in flight: each takes three of the queue's descriptors. */
#define VIRTIO_BLK_SLOTS (VIRTIO_QUEUE_SIZE / 3)

/* Puts a request in slot `slot` (which must be free) and notifies. */
void virtio_blk_submit(struct virtio_device* d, uint16_t slot, uint32_t type, uint64_t sector, void* data, uint32_t length);

/* Waits for the device to return a request: sets `slot` to its slot and
 * returns its status byte, or -1 if none completed in time or the device
 * returned something that is no slot's chain. */
int virtio_blk_complete(struct virtio_device* d, uint16_t* slot);
