// libFuzzer target: virtio-console's transmit and receive paths and
// virtio-rng's requests, over rings whose every byte comes from the input.
// Console input is a pipe holding a number of bytes the input chooses, so
// receive fills, splits and runs out of buffers. The invariant is
// TESTING.md's: no crash, no access outside guest RAM.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/file_descriptor.h"
#include "devices/console_output.h"
#include "fuzz/lent_buffers.h"
#include "memory/guest_memory.h"
#include "memory/memory_map.h"
#include "virtio/console_device.h"
#include "virtio/rng_device.h"
#include "virtio/split_virtqueue.h"

using namespace ember;
using namespace ember::virtio;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const GuestMemory memory = std::move(GuestMemory::create(ram_regions_for(1 << 20)).value());
  if (size < 4) return 0;
  // Byte 0: queue size (1..128) and features; bytes 1-2: console input
  // bytes waiting (up to 64 KiB, the pipe's size). The rest is RAM from 0:
  // console receive rings at 0/0x1000/0x2000, transmit at 0x4000/0x5000/
  // 0x6000, rng at 0x8000/0x9000/0xa000.
  const uint8_t control = data[0];
  const uint16_t queue_size = static_cast<uint16_t>(1u << (control & 7));
  const QueueFeatures features{.event_index = (control & 8) != 0, .indirect_descriptors = (control & 16) != 0};
  const size_t input_size = (static_cast<size_t>(data[1]) << 8 | data[2]) % 65536;
  const auto ram = memory.slice(0, 1 << 20);
  std::memset(ram.data(), 0, 0x10000);
  std::memcpy(ram.data(), data + 3, std::min<size_t>(size - 3, ram.size()));

  int input[2];
  if (::pipe2(input, O_NONBLOCK | O_CLOEXEC) != 0) return 0;
  FileDescriptor reader{input[0]}, writer{input[1]};
  const std::vector<uint8_t> typed(input_size, 'k');
  if (!typed.empty()) (void)::write(writer.get(), typed.data(), typed.size());
  if ((control & 32) != 0) writer = FileDescriptor{};  // and the input ends

  NullConsoleOutput output;
  ConsoleDevice console{output, reader.get()};
  console.activate(0);
  if (auto transmit = SplitVirtqueue::create(memory, {queue_size, 0x4000, 0x5000, 0x6000}, features)) {
    fuzzing::serve_all(*transmit, console, ConsoleDevice::kTransmitQueue, queue_size);
  }
  if (auto receive = SplitVirtqueue::create(memory, {queue_size, 0, 0x1000, 0x2000}, features)) {
    fuzzing::LentBuffers buffers{*receive};
    (void)console.receive(ConsoleDevice::kReceiveQueue, buffers);
    (void)console.receive(ConsoleDevice::kReceiveQueue, buffers);
  }

  RngDevice rng;
  if (auto requests = SplitVirtqueue::create(memory, {queue_size, 0x8000, 0x9000, 0xa000}, features)) {
    fuzzing::serve_all(*requests, rng, 0, queue_size);
  }
  return 0;
}
