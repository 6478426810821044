#include "virtio/fs_device.h"

#include <cstring>

namespace ember::virtio {

FsDevice::FsDevice(std::string tag, std::unique_ptr<VhostUserBackend> backend)
    : name_{"virtio-fs '" + tag + "'"}, backend_{std::move(backend)} {
  std::memcpy(config_.data(), tag.data(), std::min(tag.size(), kTagBytes));
  const uint32_t request_queues = kRequestQueues;
  std::memcpy(config_.data() + kTagBytes, &request_queues, sizeof request_queues);
}

uint64_t FsDevice::transport_features() const {
  // What ember's transport serves, where the backend can use it too.
  return VirtioDevice::transport_features() & backend_->virtio_features();
}

}  // namespace ember::virtio
