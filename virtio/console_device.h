// virtio-console (virtio 1.2 §5.3) with one port and no optional features:
// receiveq0 carries host input (ember's stdin) to the guest, transmitq0 the
// guest's output to ember's console. Linux calls it hvc0; with
// `--console virtio` it is the guest's console.
//
// Input is read straight into the guest's buffers, only while the driver
// has buffers to take it; otherwise it waits in the host's pipe or
// terminal, so a guest that never reads costs ember no memory.
#pragma once

#include <array>

#include "console/console_output.h"
#include "virtio/virtio_device.h"

namespace ember::virtio {

class ConsoleDevice final : public VirtioDevice {
 public:
  static constexpr uint16_t kReceiveQueue = 0, kTransmitQueue = 1;
  // Input buffers filled per receive() call, so a flood of input cannot keep
  // the worker (and a reset waiting for it) busy for long.
  static constexpr uint32_t kMaxBuffersPerCall = 64;

  // input_fd < 0: the guest gets no input. The fd is not owned.
  ConsoleDevice(ConsoleOutput& output, int input_fd) : output_{output}, input_fd_{input_fd} {}

  std::string_view         name() const override { return "virtio-console"; }
  uint32_t                 device_type() const override { return 3; }
  uint64_t                 device_features() const override { return 0; }
  uint16_t                 queue_count() const override { return 2; }
  // struct virtio_console_config (§5.3.4): cols, rows, max_nr_ports and
  // emerg_wr, all meaningful only with features this device does not offer.
  std::span<const uint8_t> config_space() const override { return config_; }
  uint32_t                 handle(uint16_t queue, const DescriptorChain& chain) override;

  bool        is_receive_queue(uint16_t queue) const override { return queue == kReceiveQueue; }
  int         host_data_fd() const override { return input_closed_ ? -1 : input_fd_; }
  ReceiveWait receive(uint16_t queue, ReceiveBuffers& buffers) override;

 private:
  ConsoleOutput&           output_;
  const int                input_fd_;
  bool                     input_closed_ = false;  // EOF or error on input_fd_; the worker's alone
  std::array<uint8_t, 12>  config_{};
};

}  // namespace ember::virtio
