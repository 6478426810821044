// libFuzzer target: virtio-vsock's packet parser and connection handling.
// The transmit ring comes from the input, so any header, payload length and
// operation sequence reaches handle(); one connection is live (a Unix
// socket listening at PATH_5000), so requests, data and shutdowns for it
// are served for real; then receive() answers. The invariant is
// tests/HOSTILE-INPUTS.md's: no crash, no access outside guest RAM.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "fuzz/device_fuzzing.h"
#include "memory/guest_memory.h"
#include "memory/memory_map.h"
#include "virtio/vsock_device.h"

using namespace ember;
using namespace ember::virtio;

namespace {

constexpr uint64_t kGuestCid = 3;

// A listener at PATH_5000 that accepts (and drops) whatever connects.
struct HostPort {
  explicit HostPort(const std::string& path) {
    ::unlink(path.c_str());
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    (void)::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    (void)::listen(fd, 64);
  }
  void drain() const {
    for (int accepted; (accepted = ::accept4(fd, nullptr, nullptr, SOCK_CLOEXEC)) >= 0;) ::close(accepted);
  }
  int fd;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const GuestMemory memory = std::move(GuestMemory::create(ram_regions_for(1 << 20)).value());
  static const std::string path = "/tmp/ember-fuzz-vsock-" + std::to_string(::getpid());
  static const HostPort host_port{path + "_5000"};
  static auto device = std::move(VsockDevice::create(kGuestCid, path).value());
  // Header: queue size and features (the size field is unused). RAM:
  // receive rings at 0/0x1000/0x2000, transmit at 0x4000/0x5000/0x6000.
  const auto input = fuzzing::load_input(memory, data, size, 0x8000);
  if (!input) return 0;
  device->reset();
  if (auto transmit = SplitVirtqueue::create(memory, {input->queue_size, 0x4000, 0x5000, 0x6000}, input->features)) {
    fuzzing::serve_all(*transmit, *device, VsockDevice::kTransmitQueue, input->queue_size);
  }
  if (auto receive = SplitVirtqueue::create(memory, {input->queue_size, 0, 0x1000, 0x2000}, input->features)) {
    fuzzing::LentBuffers buffers{*receive};
    (void)device->receive(VsockDevice::kReceiveQueue, buffers);
  }
  host_port.drain();
  return 0;
}
