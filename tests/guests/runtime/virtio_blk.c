#include "virtio_blk.h"

static struct {
  uint32_t type;
  uint32_t reserved;
  uint64_t sector;
} header;
static volatile uint8_t status;

int virtio_blk_request(struct virtio_device* d, uint32_t type, uint64_t sector, void* data, uint32_t length) {
  struct virtq* q = &d->queue[0];
  header.type = type;
  header.reserved = 0;
  header.sector = sector;
  status = 0xff;
  const int device_writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID;
  q->desc[0] = (struct virtq_desc){(uint64_t)&header, sizeof header, VIRTQ_DESC_F_NEXT, 1};
  uint16_t last = 1;
  if (length > 0) {
    q->desc[1] = (struct virtq_desc){(uint64_t)data, length,
                                     (uint16_t)(VIRTQ_DESC_F_NEXT | (device_writes ? VIRTQ_DESC_F_WRITE : 0)), 2};
    last = 2;
  }
  q->desc[last] = (struct virtq_desc){(uint64_t)&status, 1, VIRTQ_DESC_F_WRITE, 0};
  virtio_submit(d, q, 0);
  uint16_t id;
  if (virtio_wait_used(q, &id) < 0 || id != 0) return -1;
  return status;
}
