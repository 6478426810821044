/* A minimal virtio-mmio (version 2) driver for guest programs: up to two
 * split queues of 8 descriptors each, requests submitted synchronously
 * (virtio 1.2 §3.1.1 start-up, §2.7.13 supplying buffers, §4.2.2
 * registers). The rings and the request helpers serve virtio-pci too
 * (virtio_pci.h). */
#pragma once

#include "guest.h"

#define VIRTIO_MMIO_BASE   0xd0000000ul
#define VIRTIO_MMIO_SLOT(i) (VIRTIO_MMIO_BASE + 0x1000ul * (i))
#define VIRTIO_QUEUE_SIZE  8
#define VIRTIO_MAX_QUEUES  2

#define VIRTQ_DESC_F_NEXT  1
#define VIRTQ_DESC_F_WRITE 2

struct virtq_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

struct virtq {
  uint16_t index;
  uint16_t last_used;
  uint16_t avail_idx;
  struct virtq_desc* desc;
  volatile uint16_t* avail;  /* flags, idx, ring[8], used_event */
  volatile uint32_t* used;   /* flags|idx, then {id, len} pairs */
};

struct virtio_device {
  uint64_t base;      /* virtio-mmio: the register window */
  uint64_t config;    /* the device-specific configuration */
  uint64_t notify;    /* virtio-pci: queue N is notified at notify + N * notify_multiplier; 0 for virtio-mmio */
  uint32_t notify_multiplier;
  uint64_t features;  /* negotiated */
  struct virtq queue[VIRTIO_MAX_QUEUES];
};

static inline uint32_t virtio_read(const struct virtio_device* d, uint32_t offset) {
  return *(volatile uint32_t*)(d->base + offset);
}
static inline void virtio_write(const struct virtio_device* d, uint32_t offset, uint32_t value) {
  *(volatile uint32_t*)(d->base + offset) = value;
}

/* Checks magic, version and device type at `base`; resets the device,
 * negotiates `wanted` & offered (plus VIRTIO_F_VERSION_1) and sets up
 * queues 0 .. queues-1, each in its own 4 KiB page of `ring_memory`
 * (page-aligned). Returns 0, or a failure text. */
const char* virtio_start(struct virtio_device* d, uint64_t base, uint32_t device_type, uint64_t wanted, void* ring_memory,
                         uint16_t queues);

/* Offers the chain starting at descriptor `head` (already filled in
 * q->desc) and notifies the device. */
void virtio_submit(struct virtio_device* d, struct virtq* q, uint16_t head);
/* The same in two steps, for several chains per notification. */
void virtio_offer(struct virtq* q, uint16_t head);
void virtio_notify(struct virtio_device* d, struct virtq* q);

/* Waits up to `seconds` for the queue's next used element; returns its
 * written length, or -1 on timeout (polling the used ring; interrupts are
 * the caller's business). */
int64_t virtio_wait_used_for(struct virtq* q, uint16_t* id, uint32_t seconds);
static inline int64_t virtio_wait_used(struct virtq* q, uint16_t* id) { return virtio_wait_used_for(q, id, 20); }

/* The byte at `offset` of the device-specific configuration. */
static inline uint8_t virtio_config8(const struct virtio_device* d, uint32_t offset) {
  return *(volatile uint8_t*)(d->config + offset);
}
static inline uint32_t virtio_config32(const struct virtio_device* d, uint32_t offset) {
  return *(volatile uint32_t*)(d->config + offset);
}

/* Queue set-up shared by both transports: queue i's rings in the 4 KiB page
 * ring_memory + 4096 * i, descriptors at +0, available ring at +0x100,
 * used ring at +0x200. */
void virtq_init(struct virtq* q, uint16_t index, void* ring_memory);
