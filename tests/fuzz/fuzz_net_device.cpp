// libFuzzer target: virtio-net's transmit and receive paths over rings whose
// every byte comes from the input, with a SOCK_SEQPACKET socket standing in
// for the TAP device. Receive gets one host packet whose size comes from
// the input, so mergeable spreading, give-back and drops are all reached.
// The invariant is tests/HOSTILE-INPUTS.md's: no crash, no access outside guest RAM.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "memory/guest_memory.h"
#include "memory/memory_map.h"
#include "virtio/net_device.h"
#include "virtio/split_virtqueue.h"
#include "fuzz/device_fuzzing.h"

using namespace ember;
using namespace ember::virtio;
using ember::virtio::fuzzing::LentBuffers;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const GuestMemory memory = std::move(GuestMemory::create(ram_regions_for(1 << 20)).value());
  // Header: queue size, features, bit 5 for mergeable receive buffers, then
  // the host packet's size. RAM: receive rings at 0/0x1000/0x2000,
  // transmit rings at 0x4000/0x5000/0x6000.
  const auto input = fuzzing::load_input(memory, data, size, 0x8000);
  if (!input) return 0;
  const uint16_t queue_size = input->queue_size;
  const QueueFeatures features = input->features;
  const size_t packet_size = input->size % NetDevice::kMaxPacket;

  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, ends) != 0) return 0;
  FileDescriptor host{ends[1]};
  NetDevice device{Tap::adopt(FileDescriptor{ends[0]}, "fuzz"), {2, 0, 0, 0, 0, 1}};
  device.activate(input->flag ? NetDevice::kMergeableReceiveBuffers : 0);

  auto transmit = SplitVirtqueue::create(memory, {queue_size, 0x4000, 0x5000, 0x6000}, features);
  if (transmit) fuzzing::serve_all(*transmit, device, NetDevice::kTransmitQueue, queue_size);
  auto receive = SplitVirtqueue::create(memory, {queue_size, 0, 0x1000, 0x2000}, features);
  if (receive) {
    const std::vector<uint8_t> packet(packet_size, 0x5a);
    if (!packet.empty()) (void)::write(host.get(), packet.data(), packet.size());
    LentBuffers buffers{*receive};
    (void)device.receive(NetDevice::kReceiveQueue, buffers);
    (void)device.receive(NetDevice::kReceiveQueue, buffers);
  }
  return 0;
}
