/* virtio-net through virtio-mmio with a minimal driver (virtio 1.2 §5.1):
 * reads the MAC address and link status, sends one UDP datagram from
 * 10.0.2.15:5000 to 10.0.2.1:7000 (the host end of the TAP device, which
 * the kvm test sets up in a network namespace), and waits for the host's
 * reply to port 5000, skipping whatever else the host sends (IPv6 router
 * solicitations and the like). It negotiates mergeable receive buffers, so
 * every received packet must say num_buffers = 1 for its 2 KiB buffer. */
#include "runtime/virtio_mmio.h"

#define RECEIVE 0
#define TRANSMIT 1
#define F_MAC (1ull << 5)
#define F_MRG_RXBUF (1ull << 15)
#define F_STATUS (1ull << 16)
#define HEADER 12 /* struct virtio_net_hdr_v1 */
#define BUFFER 2048

static uint8_t rings[2 * 4096] __attribute__((aligned(4096)));
static uint8_t inbox[VIRTIO_QUEUE_SIZE][BUFFER];
static uint8_t outbox[HEADER + 1514];
static struct virtio_device nic;

static const uint8_t guest_ip[4] = {10, 0, 2, 15}, host_ip[4] = {10, 0, 2, 1};

static void put16(uint8_t* at, uint16_t value) { at[0] = (uint8_t)(value >> 8), at[1] = (uint8_t)value; }
static uint16_t get16(const uint8_t* at) { return (uint16_t)(at[0] << 8 | at[1]); }

static uint16_t ip_checksum(const uint8_t* header, size_t length) {
  uint32_t sum = 0;
  for (size_t i = 0; i < length; i += 2) sum += get16(header + i);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

static void offer_input_buffer(uint16_t slot) {
  struct virtq* q = &nic.queue[RECEIVE];
  q->desc[slot] = (struct virtq_desc){(uint64_t)inbox[slot], BUFFER, VIRTQ_DESC_F_WRITE, 0};
  virtio_submit(&nic, q, slot);
}

static void send_datagram(const uint8_t mac[6], const char* payload) {
  const size_t payload_length = strlen(payload);
  memset(outbox, 0, sizeof outbox); /* virtio_net_hdr: no checksum or segmentation offload */
  uint8_t* frame = outbox + HEADER;
  memset(frame, 0xff, 6); /* broadcast: the guest does not know the host's MAC address */
  memcpy(frame + 6, mac, 6);
  put16(frame + 12, 0x0800);
  uint8_t* ip = frame + 14;
  ip[0] = 0x45;
  put16(ip + 2, (uint16_t)(20 + 8 + payload_length));
  put16(ip + 6, 0x4000); /* don't fragment */
  ip[8] = 64;
  ip[9] = 17;
  memcpy(ip + 12, guest_ip, 4);
  memcpy(ip + 16, host_ip, 4);
  put16(ip + 10, ip_checksum(ip, 20));
  uint8_t* udp = ip + 20;
  put16(udp, 5000);
  put16(udp + 2, 7000);
  put16(udp + 4, (uint16_t)(8 + payload_length)); /* checksum 0: none, allowed for IPv4 UDP */
  memcpy(udp + 8, payload, payload_length);

  struct virtq* q = &nic.queue[TRANSMIT];
  q->desc[0] = (struct virtq_desc){(uint64_t)outbox, (uint32_t)(HEADER + 14 + 20 + 8 + payload_length), 0, 0};
  virtio_submit(&nic, q, 0);
  uint16_t id;
  if (virtio_wait_used(q, &id) < 0) guest_fail("transmitq1 never returned the buffer");
}

int guest_main(void) {
  const char* failed = virtio_start(&nic, VIRTIO_MMIO_SLOT(0), 1, F_MAC | F_MRG_RXBUF | F_STATUS, rings, 2);
  if (failed) guest_fail(failed);
  if ((nic.features & (F_MAC | F_MRG_RXBUF | F_STATUS)) != (F_MAC | F_MRG_RXBUF | F_STATUS)) guest_fail("features missing");
  uint8_t mac[6];
  for (int i = 0; i < 6; ++i) mac[i] = virtio_config8(&nic, (uint32_t)i);
  serial_print("mac");
  for (int i = 0; i < 6; ++i) {
    serial_putc(i == 0 ? ' ' : ':');
    serial_putc("0123456789abcdef"[mac[i] >> 4]);
    serial_putc("0123456789abcdef"[mac[i] & 15]);
  }
  serial_putc('\n');
  if ((virtio_config8(&nic, 6) & 1) == 0) guest_fail("the link is down");

  for (uint16_t slot = 0; slot < VIRTIO_QUEUE_SIZE; ++slot) offer_input_buffer(slot);
  send_datagram(mac, "ping from the guest");

  for (int frames = 0; frames < 64; ++frames) {
    uint16_t slot;
    const int64_t got = virtio_wait_used_for(&nic.queue[RECEIVE], &slot, 30);
    if (got < 0) guest_fail("no reply arrived");
    if (slot >= VIRTIO_QUEUE_SIZE || got < HEADER + 14 || got > BUFFER) guest_fail("receiveq1 returned a bad used element");
    const uint8_t* packet = inbox[slot];
    if (packet[10] != 1 || packet[11] != 0) guest_fail("num_buffers is not 1");
    const uint8_t* frame = packet + HEADER;
    const uint8_t* ip = frame + 14;
    const uint8_t* udp = ip + 20;
    if (get16(frame + 12) == 0x0800 && ip[9] == 17 && ip[16] == guest_ip[0] && ip[17] == guest_ip[1] && ip[18] == guest_ip[2] && ip[19] == guest_ip[3] && get16(udp + 2) == 5000) {
      const size_t length = get16(udp + 4) - 8u;
      if ((size_t)got < HEADER + 14 + 20 + 8 + length || length > 64) guest_fail("a truncated reply");
      char text[65];
      memcpy(text, udp + 8, length);
      text[length] = 0;
      serial_print("guest got: ");
      serial_print(text);
      serial_print("\n");
      return 0;
    }
    offer_input_buffer(slot);
  }
  guest_fail("64 frames and no reply among them");
}
