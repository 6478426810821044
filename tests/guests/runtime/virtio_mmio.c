#include "virtio_mmio.h"

#include "interrupts.h"

#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_STATUS 0x070
#define REG_QUEUE_DESC 0x080
#define REG_QUEUE_DRIVER 0x090
#define REG_QUEUE_DEVICE 0x0a0

#define STATUS_ACKNOWLEDGE 1
#define STATUS_DRIVER 2
#define STATUS_DRIVER_OK 4
#define STATUS_FEATURES_OK 8

const char* virtio_start(struct virtio_device* d, uint64_t base, uint32_t device_type, uint64_t wanted, void* ring_memory,
                         uint16_t queues) {
  if (queues == 0 || queues > VIRTIO_MAX_QUEUES) return "virtio_start: unsupported queue count";
  d->base = base;
  d->config = base + 0x100;
  d->notify = 0;
  if (virtio_read(d, REG_MAGIC) != 0x74726976) return "no virtio-mmio magic value";
  if (virtio_read(d, REG_VERSION) != 2) return "not virtio-mmio version 2";
  if (virtio_read(d, REG_DEVICE_ID) != device_type) return "wrong device type";
  virtio_write(d, REG_STATUS, 0);
  virtio_write(d, REG_STATUS, STATUS_ACKNOWLEDGE);
  virtio_write(d, REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER);
  virtio_write(d, REG_DEVICE_FEATURES_SEL, 0);
  uint64_t offered = virtio_read(d, REG_DEVICE_FEATURES);
  virtio_write(d, REG_DEVICE_FEATURES_SEL, 1);
  offered |= (uint64_t)virtio_read(d, REG_DEVICE_FEATURES) << 32;
  d->features = (offered & wanted) | (1ull << 32);
  virtio_write(d, REG_DRIVER_FEATURES_SEL, 0);
  virtio_write(d, REG_DRIVER_FEATURES, (uint32_t)d->features);
  virtio_write(d, REG_DRIVER_FEATURES_SEL, 1);
  virtio_write(d, REG_DRIVER_FEATURES, (uint32_t)(d->features >> 32));
  virtio_write(d, REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK);
  if (!(virtio_read(d, REG_STATUS) & STATUS_FEATURES_OK)) return "the device refused the features";

  for (uint16_t i = 0; i < queues; ++i) {
    struct virtq* q = &d->queue[i];
    virtq_init(q, i, ring_memory);
    virtio_write(d, REG_QUEUE_SEL, i);
    if (virtio_read(d, REG_QUEUE_NUM_MAX) < VIRTIO_QUEUE_SIZE) return "a queue is too small or missing";
    if (virtio_read(d, REG_QUEUE_READY) != 0) return "a queue is ready before set-up";
    virtio_write(d, REG_QUEUE_NUM, VIRTIO_QUEUE_SIZE);
    virtio_write(d, REG_QUEUE_DESC, (uint32_t)(uintptr_t)q->desc);
    virtio_write(d, REG_QUEUE_DESC + 4, 0);
    virtio_write(d, REG_QUEUE_DRIVER, (uint32_t)(uintptr_t)q->avail);
    virtio_write(d, REG_QUEUE_DRIVER + 4, 0);
    virtio_write(d, REG_QUEUE_DEVICE, (uint32_t)(uintptr_t)q->used);
    virtio_write(d, REG_QUEUE_DEVICE + 4, 0);
    virtio_write(d, REG_QUEUE_READY, 1);
  }
  virtio_write(d, REG_STATUS, STATUS_ACKNOWLEDGE | STATUS_DRIVER | STATUS_FEATURES_OK | STATUS_DRIVER_OK);
  if (virtio_read(d, REG_STATUS) & 64) return "the device needs a reset right after DRIVER_OK";
  return 0;
}

void virtq_init(struct virtq* q, uint16_t index, void* ring_memory) {
  uint8_t* ring = (uint8_t*)ring_memory + 4096 * index;
  memset(ring, 0, 4096);
  q->index = index;
  q->desc = (struct virtq_desc*)ring;
  q->avail = (volatile uint16_t*)(ring + 0x100);
  q->used = (volatile uint32_t*)(ring + 0x200);
  q->last_used = 0;
  q->avail_idx = 0;
}

void virtio_offer(struct virtq* q, uint16_t head) {
  q->avail[2 + q->avail_idx % VIRTIO_QUEUE_SIZE] = head;
  __asm__ volatile("" ::: "memory"); /* x86: stores are ordered; keep the compiler from reordering */
  q->avail_idx++;
  q->avail[1] = q->avail_idx;
}

void virtio_submit(struct virtio_device* d, struct virtq* q, uint16_t head) {
  virtio_offer(q, head);
  virtio_notify(d, q);
}

void virtio_notify(struct virtio_device* d, struct virtq* q) {
  __asm__ volatile("mfence" ::: "memory");
  if (d->notify) *(volatile uint16_t*)(d->notify + (uint64_t)q->index * d->notify_multiplier) = q->index; /* virtio-pci */
  else virtio_write(d, REG_QUEUE_NOTIFY, q->index);
}

int64_t virtio_wait_used_for(struct virtq* q, uint16_t* id, uint32_t seconds) {
  for (uint64_t start = rdtsc(); rdtsc() - start < seconds * 1000ull * 1000 * 1000;) {
    const uint16_t used_idx = (uint16_t)(q->used[0] >> 16);
    if (used_idx != q->last_used) {
      __asm__ volatile("" ::: "memory");
      const volatile uint32_t* element = q->used + 1 + 2 * (q->last_used % VIRTIO_QUEUE_SIZE);
      q->last_used++;
      if (id) *id = (uint16_t)element[0];
      return element[1];
    }
    cpu_relax();
  }
  return -1;
}
