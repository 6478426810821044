// virtio-fs (virtio 1.2 §5.11): a shared directory the guest mounts by its
// tag (`mount -t virtiofs TAG DIR`). ember only presents the device: its
// queues (one high-priority queue, one request queue) are served by a
// vhost-user backend such as virtiofsd (vhost_user_backend.h), which speaks
// FUSE with the guest straight from guest RAM.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "virtio/vhost_user_backend.h"
#include "virtio/virtio_device.h"

namespace ember::virtio {

class FsDevice final : public VirtioDevice {
 public:
  static constexpr uint32_t kDeviceType = 26;
  static constexpr size_t   kTagBytes = 36;  // §5.11.4: tag[36], not NUL-terminated when full
  static constexpr uint16_t kRequestQueues = 1;

  // The backend must serve 1 + kRequestQueues queues. `tag` is checked by
  // the caller (cli/arguments.cpp): 1 to 36 bytes.
  FsDevice(std::string tag, std::unique_ptr<VhostUserBackend> backend);

  std::string_view         name() const override { return name_; }
  uint32_t                 device_type() const override { return kDeviceType; }
  // No device-specific features: VIRTIO_FS_F_NOTIFICATION needs a
  // notification queue ember does not offer.
  uint64_t                 device_features() const override { return 0; }
  uint64_t                 transport_features() const override;
  uint16_t                 queue_count() const override { return 1 + kRequestQueues; }
  uint16_t                 max_queue_size() const override { return 1024; }
  std::span<const uint8_t> config_space() const override { return config_; }
  uint32_t                 handle(uint16_t, const DescriptorChain&) override { return 0; }  // never: the backend serves
  ExternalQueues*          external_queues() override { return backend_.get(); }
  VhostUserBackend&        backend() { return *backend_; }

 private:
  std::string                       name_;
  std::unique_ptr<VhostUserBackend> backend_;
  std::array<uint8_t, kTagBytes + 4> config_{};  // tag, then le32 num_request_queues
};

}  // namespace ember::virtio
