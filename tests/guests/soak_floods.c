/* The soak workload of issue 18 (tests/kvm/soak_test.cpp): the worst a
 * guest can do to ember's memory and CPU at once, for as long as ember
 * lets it run, while it keeps writing to its disk.
 *  - Timers at their fastest: the PIT in mode 2 with a reload of 1 on IOAPIC
 *    pin 2, and the LAPIC timer periodic with a count of 1 at divide 1. The
 *    guest takes each vector once and never signals EOI, so ember's timers
 *    keep firing into an IRR that stays set: taking them all would leave
 *    the guest no time for anything else in the nested tier.
 *  - A connection flood: `connections` (default 300) connections to host
 *    port `port` (default 7200), whose listener never accepts or reads; each
 *    is sent the whole buffer its RESPONSE announced.
 *  - A packet flood: then, with no receive buffers offered any more, 256
 *    packets for connections that do not exist for every disk write, 8 per
 *    notification, each of which ember must answer with a reset it has
 *    nowhere to put.
 *  - The disk: sector i % sectors gets the 64-bit number i in every word,
 *    a FLUSH follows, and every 64th flush is reported as "flushed i" only
 *    once the device acknowledged it.
 * Slot 0 is the disk, slot 1 the vsock device (ember's order). */
#include "runtime/interrupts.h"
#include "runtime/virtio_blk.h"
#include "runtime/vsock.h"

#define RECEIVE 0
#define TRANSMIT 1
#define INBOX 1024
#define PAYLOAD 4096
#define PIT_VECTOR 0x30
#define LAPIC_VECTOR 0x31

static uint8_t disk_ring[4096] __attribute__((aligned(4096)));
static uint8_t vsock_rings[2 * 4096] __attribute__((aligned(4096)));
static uint64_t block[64] __attribute__((aligned(512)));
static uint8_t inbox[VIRTIO_QUEUE_SIZE][INBOX];
static uint8_t outbox[sizeof(struct vsock_header) + PAYLOAD];
static struct vsock_header strays[VIRTIO_QUEUE_SIZE];
static struct virtio_device disk, vsock;
static uint64_t guest_cid;

static void offer_input_buffer(uint16_t slot) {
  struct virtq* q = &vsock.queue[RECEIVE];
  q->desc[slot] = (struct virtq_desc){(uint64_t)inbox[slot], INBOX, VIRTQ_DESC_F_WRITE, 0};
  virtio_submit(&vsock, q, slot);
}

static void send_packet(uint16_t op, uint32_t guest_port, uint32_t host_port, uint32_t length) {
  const struct vsock_header h = {guest_cid, VSOCK_HOST_CID, guest_port, host_port, length, VSOCK_TYPE_STREAM, op, 0,
                                 64 * 1024, 0};
  memcpy(outbox, &h, sizeof h);
  struct virtq* q = &vsock.queue[TRANSMIT];
  q->desc[0] = (struct virtq_desc){(uint64_t)outbox, (uint32_t)(sizeof h + length), 0, 0};
  virtio_submit(&vsock, q, 0);
  uint16_t id;
  if (virtio_wait_used(q, &id) < 0) guest_fail("the transmit queue never returned the buffer");
}

/* The RESPONSE or RST for guest port `port`, skipping other packets;
 * returns the operation and sets `buf_alloc` from the answer. */
static uint16_t await_answer(uint32_t port, uint32_t* buf_alloc) {
  for (int packets = 0; packets < 64; ++packets) {
    uint16_t slot;
    const int64_t got = virtio_wait_used_for(&vsock.queue[RECEIVE], &slot, 30);
    if (got < 0) guest_fail("no answer to a connection request");
    if (slot >= VIRTIO_QUEUE_SIZE || got < (int64_t)sizeof(struct vsock_header)) guest_fail("a bad used element");
    struct vsock_header h;
    memcpy(&h, inbox[slot], sizeof h);
    offer_input_buffer(slot);
    if (h.dst_port == port && (h.op == VSOCK_OP_RESPONSE || h.op == VSOCK_OP_RST)) {
      *buf_alloc = h.buf_alloc;
      return h.op;
    }
  }
  guest_fail("64 packets and no answer to a connection request");
  return 0;
}

static void count_without_eoi(uint8_t vector) { interrupt_count[vector]++; }

static void start_timers(void) {
  idt_init();
  lapic_enable();
  set_handler(PIT_VECTOR, count_without_eoi);
  set_handler(LAPIC_VECTOR, count_without_eoi);
  ioapic_write(0x10 + 2 * 2 + 1, 0);
  ioapic_write(0x10 + 2 * 2, PIT_VECTOR); /* pin 2 (IRQ 0): edge, unmasked, APIC 0 */
  enable_interrupts();
  outb(0x43, 0x34); /* channel 0, lo/hi, mode 2 */
  outb(0x40, 1);
  outb(0x40, 0);
  lapic_write(LAPIC_TIMER_DIVIDE, 0xb); /* divide by 1 */
  lapic_write(LAPIC_LVT_TIMER, (1u << 17) | LAPIC_VECTOR); /* periodic */
  lapic_write(LAPIC_TIMER_INITIAL, 1);
}

static void flood_connections(void) {
  const uint32_t connections = (uint32_t)cmdline_number("connections", 300);
  const uint32_t port = (uint32_t)cmdline_number("port", 7200);
  uint32_t established = 0;
  uint64_t sent = 0;
  for (uint32_t i = 0; i < connections; ++i) {
    uint32_t credit = 0;
    send_packet(VSOCK_OP_REQUEST, 10000 + i, port, 0);
    if (await_answer(10000 + i, &credit) != VSOCK_OP_RESPONSE) continue;
    ++established;
    for (uint32_t left = credit; left > 0;) {
      const uint32_t length = left < PAYLOAD ? left : PAYLOAD;
      send_packet(VSOCK_OP_RW, 10000 + i, port, length);
      left -= length;
      sent += length;
    }
  }
  serial_print("soak: ");
  serial_print_dec(established);
  serial_print(" connections, ");
  serial_print_dec(sent);
  serial_print(" bytes sent\n");
}

/* A queue's worth of data packets for connections that do not exist, in
 * one notification. */
static void send_strays(void) {
  struct virtq* q = &vsock.queue[TRANSMIT];
  for (uint16_t d = 0; d < VIRTIO_QUEUE_SIZE; ++d) {
    strays[d] = (struct vsock_header){guest_cid, VSOCK_HOST_CID, 60000u + d, 9999, 0, VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0,
                                      64 * 1024, 0};
    q->desc[d] = (struct virtq_desc){(uint64_t)&strays[d], sizeof strays[d], 0, 0};
    virtio_offer(q, d);
  }
  virtio_notify(&vsock, q);
  for (uint16_t d = 0; d < VIRTIO_QUEUE_SIZE; ++d) {
    uint16_t id;
    if (virtio_wait_used(q, &id) < 0) guest_fail("the transmit queue never returned a stray packet");
  }
}

int guest_main(void) {
  const char* failed = virtio_start(&disk, VIRTIO_MMIO_SLOT(0), 2, VIRTIO_BLK_F_FLUSH, disk_ring, 1);
  if (failed) guest_fail(failed);
  if (!(disk.features & VIRTIO_BLK_F_FLUSH)) guest_fail("the disk does not offer FLUSH");
  failed = virtio_start(&vsock, VIRTIO_MMIO_SLOT(1), 19, 0, vsock_rings, 2);
  if (failed) guest_fail(failed);
  guest_cid = virtio_config32(&vsock, 0) | (uint64_t)virtio_config32(&vsock, 4) << 32;
  for (uint16_t slot = 0; slot < VIRTIO_QUEUE_SIZE; ++slot) offer_input_buffer(slot);

  start_timers();
  flood_connections();
  serial_print("soak: flooding\n");

  const uint64_t sectors = virtio_config32(&disk, 0);
  for (uint64_t i = 0;; ++i) {
    for (uint32_t k = 0; k < 32; ++k) send_strays();
    for (int w = 0; w < 64; ++w) block[w] = i;
    if (virtio_blk_request(&disk, VIRTIO_BLK_T_OUT, i % sectors, block, 512) != 0) guest_fail("write failed");
    if (virtio_blk_request(&disk, VIRTIO_BLK_T_FLUSH, 0, 0, 0) != 0) guest_fail("flush failed");
    if (i % 64 == 63) {
      serial_print("flushed ");
      serial_print_dec(i);
      serial_print(" ticks ");
      serial_print_dec(interrupt_count[PIT_VECTOR]);
      serial_print(" ");
      serial_print_dec(interrupt_count[LAPIC_VECTOR]);
      serial_print("\n");
    }
  }
}
