#include "virtio_blk.h"

/* Request slot s owns descriptors 3s, 3s+1 and 3s+2 and its own header and
 * status byte, so VIRTIO_BLK_SLOTS requests can be in flight at once. */
static struct {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
} header[VIRTIO_BLK_SLOTS];
static volatile uint8_t status[VIRTIO_BLK_SLOTS];

void virtio_blk_submit(struct virtio_device* d, uint16_t slot, uint32_t type, uint64_t sector, void* data, uint32_t length) {
  struct virtq* q = &d->queue[0];
  const uint16_t first = (uint16_t)(3 * slot);
  header[slot].type = type;
  header[slot].reserved = 0;
  header[slot].sector = sector;
  status[slot] = 0xff;
  const int device_writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
  q->desc[first] = (struct virtq_desc){(uint64_t)&header[slot], sizeof header[slot], VIRTQ_DESC_F_NEXT, (uint16_t)(first + 1)};
  uint16_t last = (uint16_t)(first + 1);
  if (length > 0) {
    q->desc[first + 1] = (struct virtq_desc){(uint64_t)data, length,
                                             (uint16_t)(VIRTQ_DESC_F_NEXT | (device_writes ? VIRTQ_DESC_F_WRITE : 0)),
                                             (uint16_t)(first + 2)};
    last = (uint16_t)(first + 2);
  }
  q->desc[last] = (struct virtq_desc){(uint64_t)&status[slot], 1, VIRTQ_DESC_F_WRITE, 0};
  virtio_submit(d, q, first);
}

int virtio_blk_complete(struct virtio_device* d, uint16_t* slot) {
  uint16_t id;
  if (virtio_wait_used(&d->queue[0], &id) < 0 || id % 3 != 0 || id / 3 >= VIRTIO_BLK_SLOTS) return -1;
  *slot = id / 3;
  return status[*slot];
}

int virtio_blk_request(struct virtio_device* d, uint32_t type, uint64_t sector, void* data, uint32_t length) {
  virtio_blk_submit(d, 0, type, sector, data, length);
  uint16_t slot = 0;
  const int result = virtio_blk_complete(d, &slot);
  return result < 0 || slot != 0 ? -1 : result;
}
