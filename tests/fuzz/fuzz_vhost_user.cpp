// libFuzzer target: what a vhost-user backend sends ember
// (virtio/vhost_user_message.h, virtio/vhost_user_backend.h). The input is
// taken twice: as one reply to every request ember sends, through the one
// parser; and as the whole byte stream a backend answers the set-up
// exchange with (features, protocol features, owner, memory table), over a
// socketpair whose far end then closes. Nothing may crash, hang or read past
// what arrived; a refusal is a clean error.
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <span>

#include "memory/memory_map.h"
#include "virtio/vhost_user_backend.h"

namespace {

using namespace ember;
using namespace ember::virtio::vhost_user;

const GuestMemory& shared_memory() {
  static const GuestMemory memory =
      std::move(GuestMemory::create(ram_regions_for(2 << 20), GuestMemory::Sharing::kShareable).value());
  return memory;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes{data, size};
  for (const Request request : {Request::kGetFeatures, Request::kGetProtocolFeatures, Request::kGetQueueNum,
                                Request::kGetVringBase, Request::kSetOwner}) {
    (void)parse_u64_reply(request, bytes);
    (void)parse_vring_state_reply(request, bytes);
    (void)parse_reply(request, bytes, size % 300);
  }

  if (size > 64 * 1024) return 0;  // a socketpair holds this much without a reader
  int ends[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) std::abort();
  if (size > 0 && ::write(ends[1], data, size) != static_cast<ssize_t>(size)) std::abort();
  ::shutdown(ends[1], SHUT_WR);  // after these bytes, the backend says nothing more
  auto backend = ember::virtio::VhostUserBackend::attach(ember::FileDescriptor{ends[0]}, "fuzzed backend", shared_memory(), 2,
                                                         nullptr);
  backend = ember::Error{"done"};  // a backend that passed set-up stops here (its threads joined)
  ::close(ends[1]);
  return 0;
}
