/* virtio-net transmit throughput from inside a guest (bench/virtio_net.sh):
 * packets=N (default 20000) UDP datagrams of 1472 payload bytes (1514-byte
 * frames) from 10.0.2.15:5000 to 10.0.2.1:7000, as fast as the device takes
 * them, with up to 4 frames in flight; timed in TSC cycles from the first
 * submission to the last buffer the device returned. The host end counts
 * what arrives. Built as a multiboot program over virtio-pci
 * (multiboot/multiboot_virtio_net_bench.c), so ember and QEMU run the same
 * code. */
#include "runtime/interrupts.h"
#include "runtime/virtio_pci.h"

#define TRANSMIT 1
#define HEADER 12 /* struct virtio_net_hdr_v1 */
#define PAYLOAD 1472
#define FRAME (14 + 20 + 8 + PAYLOAD)
#define IN_FLIGHT 4

static uint8_t rings[2 * 4096] __attribute__((aligned(4096)));
static uint8_t outbox[IN_FLIGHT][HEADER + FRAME] __attribute__((aligned(64)));
static struct virtio_device nic;

static void put16(uint8_t* at, uint16_t value) { at[0] = (uint8_t)(value >> 8), at[1] = (uint8_t)value; }

static uint16_t ip_checksum(const uint8_t* header) {
  uint32_t sum = 0;
  for (int i = 0; i < 20; i += 2) sum += (uint32_t)(header[i] << 8 | header[i + 1]);
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* A broadcast UDP datagram, checksum-free (allowed for IPv4). */
static void build_frame(uint8_t* packet, const uint8_t mac[6]) {
  memset(packet, 0, HEADER + FRAME);
  uint8_t* frame = packet + HEADER;
  memset(frame, 0xff, 6);
  memcpy(frame + 6, mac, 6);
  put16(frame + 12, 0x0800);
  uint8_t* ip = frame + 14;
  ip[0] = 0x45;
  put16(ip + 2, 20 + 8 + PAYLOAD);
  put16(ip + 6, 0x4000);
  ip[8] = 64;
  ip[9] = 17;
  const uint8_t source[4] = {10, 0, 2, 15}, destination[4] = {10, 0, 2, 1};
  memcpy(ip + 12, source, 4);
  memcpy(ip + 16, destination, 4);
  put16(ip + 10, ip_checksum(ip));
  uint8_t* udp = ip + 20;
  put16(udp, 5000);
  put16(udp + 2, 7000);
  put16(udp + 4, 8 + PAYLOAD);
  memset(udp + 8, 0x5a, PAYLOAD);
}

int guest_main(void) {
  /* Polled: no interrupts (VIRTIO_MSI_NO_VECTOR). */
  const char* failed = virtio_pci_start(&nic, 1, 1ull << 5 /* MAC */, rings, 2, 0);
  if (failed) guest_fail(failed);
  uint8_t mac[6];
  for (int i = 0; i < 6; ++i) mac[i] = virtio_config8(&nic, (uint32_t)i);
  for (int i = 0; i < IN_FLIGHT; ++i) build_frame(outbox[i], mac);

  const uint64_t packets = cmdline_number("packets", 20000);
  struct virtq* q = &nic.queue[TRANSMIT];
  uint64_t submitted = 0, completed = 0;
  const uint64_t start = rdtsc();
  while (completed < packets) {
    while (submitted < packets && submitted - completed < IN_FLIGHT) {
      const uint16_t slot = (uint16_t)(submitted % IN_FLIGHT);
      q->desc[slot] = (struct virtq_desc){(uint64_t)outbox[slot], HEADER + FRAME, 0, 0};
      virtio_submit(&nic, q, slot);
      submitted++;
    }
    uint16_t id;
    if (virtio_wait_used_for(q, &id, 10) < 0) guest_fail("the transmit queue stopped returning buffers");
    completed++;
  }
  const uint64_t cycles = rdtsc() - start;
  serial_print("bench udp_tx bytes=");
  serial_print_dec(packets * PAYLOAD);
  serial_print(" packets=");
  serial_print_dec(packets);
  serial_print(" cycles=");
  serial_print_dec(cycles);
  serial_print("\n");
  return 0;
}
