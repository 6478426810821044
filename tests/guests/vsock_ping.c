/* virtio-vsock through virtio-mmio with a minimal driver (virtio 1.2 §5.10):
 *  1. connects from port 1024 to the host (CID 2) port port=N (default
 *     5000), sends "ping from the guest" and prints the host's reply, then
 *     shuts the connection down and expects RST;
 *  2. accepts a connection the host makes to its port 2048 and echoes the
 *     first data it gets.
 * The kvm test plays the host through ember's Unix sockets. Packets that are
 * not the awaited one (credit updates) are skipped. */
#include "runtime/virtio_mmio.h"
#include "runtime/vsock.h"

#define RECEIVE 0
#define TRANSMIT 1
#define BUFFER 1024

static uint8_t rings[2 * 4096] __attribute__((aligned(4096)));
static uint8_t inbox[VIRTIO_QUEUE_SIZE][BUFFER];
static uint8_t outbox[sizeof(struct vsock_header) + 64];
static struct virtio_device vsock;
static uint64_t guest_cid;

static void offer_input_buffer(uint16_t slot) {
  struct virtq* q = &vsock.queue[RECEIVE];
  q->desc[slot] = (struct virtq_desc){(uint64_t)inbox[slot], BUFFER, VIRTQ_DESC_F_WRITE, 0};
  virtio_submit(&vsock, q, slot);
}

static void send_packet(uint16_t op, uint32_t guest_port, uint32_t host_port, const char* payload, uint32_t flags) {
  const uint32_t length = payload ? (uint32_t)strlen(payload) : 0;
  struct vsock_header h = {guest_cid, VSOCK_HOST_CID, guest_port, host_port, length, 1, op, flags, 64 * 1024, 0};
  memcpy(outbox, &h, sizeof h);
  if (length) memcpy(outbox + sizeof h, payload, length);
  struct virtq* q = &vsock.queue[TRANSMIT];
  q->desc[0] = (struct virtq_desc){(uint64_t)outbox, (uint32_t)(sizeof h + length), 0, 0};
  virtio_submit(&vsock, q, 0);
  uint16_t id;
  if (virtio_wait_used(q, &id) < 0) guest_fail("the transmit queue never returned the buffer");
}

/* Waits for a packet with operation `op` for guest port `port`; copies its
 * header and (NUL-terminated) payload. */
static void await_packet(uint16_t op, uint32_t port, struct vsock_header* out, char* payload) {
  for (int packets = 0; packets < 32; ++packets) {
    uint16_t slot;
    const int64_t got = virtio_wait_used_for(&vsock.queue[RECEIVE], &slot, 30);
    if (got < 0) guest_fail("no packet arrived");
    if (slot >= VIRTIO_QUEUE_SIZE || got < (int64_t)sizeof(struct vsock_header) || got > BUFFER) guest_fail("a bad used element");
    struct vsock_header h;
    memcpy(&h, inbox[slot], sizeof h);
    const int wanted = h.op == op && h.dst_port == port && h.src_cid == VSOCK_HOST_CID && h.dst_cid == guest_cid;
    if (wanted) {
      *out = h;
      const uint32_t length = h.len < 63 ? h.len : 63;
      if (payload) {
        memcpy(payload, inbox[slot] + sizeof h, length);
        payload[length] = 0;
      }
    }
    offer_input_buffer(slot);
    if (wanted) return;
  }
  guest_fail("32 packets and not the awaited one");
}

int guest_main(void) {
  const char* failed = virtio_start(&vsock, VIRTIO_MMIO_SLOT(0), 19, 0, rings, 2);
  if (failed) guest_fail(failed);
  guest_cid = virtio_config32(&vsock, 0) | (uint64_t)virtio_config32(&vsock, 4) << 32;
  serial_print("guest cid ");
  serial_print_dec(guest_cid);
  serial_print("\n");
  for (uint16_t slot = 0; slot < VIRTIO_QUEUE_SIZE; ++slot) offer_input_buffer(slot);

  const uint32_t port = (uint32_t)cmdline_number("port", 5000);
  struct vsock_header h;
  char text[64];
  send_packet(VSOCK_OP_REQUEST, 1024, port, 0, 0);
  await_packet(VSOCK_OP_RESPONSE, 1024, &h, 0);
  send_packet(VSOCK_OP_RW, 1024, port, "ping from the guest", 0);
  await_packet(VSOCK_OP_RW, 1024, &h, text);
  serial_print("guest got: ");
  serial_print(text);
  serial_print("\n");
  send_packet(VSOCK_OP_SHUTDOWN, 1024, port, 0, 3);
  await_packet(VSOCK_OP_RST, 1024, &h, 0);

  await_packet(VSOCK_OP_REQUEST, 2048, &h, 0);
  const uint32_t host_port = h.src_port;
  send_packet(VSOCK_OP_RESPONSE, 2048, host_port, 0, 0);
  await_packet(VSOCK_OP_RW, 2048, &h, text);
  send_packet(VSOCK_OP_RW, 2048, host_port, text, 0);
  serial_print("echoed: ");
  serial_print(text);
  serial_print("\n");
  return 0;
}
