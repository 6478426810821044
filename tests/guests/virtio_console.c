/* virtio-console through virtio-mmio with a minimal driver (virtio 1.2
 * §5.3): the program writes a line through transmitq0, then reads what the
 * host feeds ember's stdin through receiveq0 (in 4-byte buffers, so a line
 * spans several) and writes it back, and prints one line on the serial port,
 * which `--console virtio` discards. Failures are reported on the virtio
 * console too, as the serial port is not seen. input_wait=SECONDS on the
 * command line bounds the wait for input (default 20). */
#include "runtime/virtio_mmio.h"

#define RECEIVE 0
#define TRANSMIT 1
#define CHUNK 4

static uint8_t rings[2 * 4096] __attribute__((aligned(4096)));
static uint8_t inbox[VIRTIO_QUEUE_SIZE][CHUNK];
static char outbox[128];
static struct virtio_device console;

static void console_write(const char* text) {
  struct virtq* q = &console.queue[TRANSMIT];
  const size_t length = strlen(text);
  memcpy(outbox, text, length);
  q->desc[0] = (struct virtq_desc){(uint64_t)outbox, (uint32_t)length, 0, 0};
  virtio_submit(&console, q, 0);
  uint16_t id;
  if (virtio_wait_used(q, &id) < 0) guest_fail("transmitq0 never returned the buffer");
}

static void fail(const char* why) {
  console_write("FAIL: ");
  console_write(why);
  console_write("\n");
  guest_fail(why);
}

static void offer_input_buffer(uint16_t slot) {
  struct virtq* q = &console.queue[RECEIVE];
  q->desc[slot] = (struct virtq_desc){(uint64_t)inbox[slot], CHUNK, VIRTQ_DESC_F_WRITE, 0};
  virtio_submit(&console, q, slot);
}

int guest_main(void) {
  const char* failed = virtio_start(&console, VIRTIO_MMIO_SLOT(0), 3, 0, rings, 2);
  if (failed) guest_fail(failed);
  serial_print("this line goes to the serial port\n");
  console_write("hello from virtio-console\n");

  for (uint16_t slot = 0; slot < VIRTIO_QUEUE_SIZE; ++slot) offer_input_buffer(slot);
  /* input_wait=SECONDS on the command line: how long to wait for input. */
  const uint32_t wait_seconds = (uint32_t)cmdline_number("input_wait", 20);
  char line[64];
  size_t length = 0;
  while (length == 0 || line[length - 1] != '\n') {
    uint16_t slot;
    const int64_t got = virtio_wait_used_for(&console.queue[RECEIVE], &slot, wait_seconds);
    if (got < 0) fail("no input arrived on receiveq0");
    if (slot >= VIRTIO_QUEUE_SIZE || got == 0 || got > CHUNK) fail("receiveq0 returned a bad used element");
    if (length + (size_t)got >= sizeof line - 1) fail("the input line is too long");
    memcpy(line + length, inbox[slot], (size_t)got);
    length += (size_t)got;
    offer_input_buffer(slot);
  }
  line[length] = 0;
  console_write("guest read: ");
  console_write(line);
  return 0;
}
