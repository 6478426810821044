// libFuzzer target: virtio-console's transmit and receive paths and
// virtio-rng's requests, over rings whose every byte comes from the input.
// Console input is a pipe holding a number of bytes the input chooses, so
// receive fills, splits and runs out of buffers. The invariant is
// tests/HOSTILE-INPUTS.md's: no crash, no access outside guest RAM.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "base/file_descriptor.h"
#include "console/console_output.h"
#include "fuzz/device_fuzzing.h"
#include "memory/guest_memory.h"
#include "memory/memory_map.h"
#include "virtio/console_device.h"
#include "virtio/rng_device.h"
#include "virtio/split_virtqueue.h"

using namespace ember;
using namespace ember::virtio;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const GuestMemory memory = std::move(GuestMemory::create(ram_regions_for(1 << 20)).value());
  // Header: queue size, features, bit 5 to end the console input, then how
  // many input bytes wait (up to 64 KiB, the pipe's size). RAM: console
  // receive rings at 0/0x1000/0x2000, transmit at 0x4000/0x5000/0x6000,
  // rng at 0x8000/0x9000/0xa000.
  const auto header = fuzzing::load_input(memory, data, size, 0x10000);
  if (!header) return 0;
  const uint16_t queue_size = header->queue_size;
  const QueueFeatures features = header->features;
  const size_t input_size = header->size % 65536;

  int input[2];
  if (::pipe2(input, O_NONBLOCK | O_CLOEXEC) != 0) return 0;
  FileDescriptor reader{input[0]}, writer{input[1]};
  const std::vector<uint8_t> typed(input_size, 'k');
  if (!typed.empty()) (void)::write(writer.get(), typed.data(), typed.size());
  if (header->flag) writer = FileDescriptor{};  // and the input ends

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
