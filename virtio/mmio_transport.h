// The virtio-mmio transport, version 2 (virtio 1.2 §4.2.2): a page of
// registers on the MMIO bus and one interrupt line. Status, features, queues
// and the queue service are the shared Transport's (transport.h).
//
// Interrupts: the line is high while InterruptStatus is non-zero, which is
// level-triggered semantics (§4.2.3.4): the driver's InterruptACK lowers it.
#pragma once

#include <cstdint>

#include "bus/device.h"
#include "irq/interrupt_line.h"
#include "platform/address_map.h"
#include "virtio/transport.h"

namespace ember::virtio {

class MmioTransport final : public Transport, public Device {
 public:
  static constexpr uint64_t kSize = platform::kVirtioMmioSlotSize;
  static constexpr uint64_t kQueueNotifyOffset = 0x050;
  // InterruptStatus bits (§4.2.2).
  static constexpr uint32_t kUsedBufferInterrupt = 1, kConfigChangeInterrupt = 2;

  MmioTransport(const GuestMemory& memory, VirtioDevice& device, InterruptLine& line,
                QueueService::Mode mode = QueueService::Mode::kWorkerThreads);
  ~MmioTransport() override;

  std::string_view name() const override { return Transport::name(); }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

 private:
  void signal_used_buffers_locked(uint16_t queue) override;
  void signal_config_change_locked() override;
  void reset_transport_locked() override;
  void         save_transport_locked(snapshot::SectionWriter& out) override { out.u32(interrupt_status_); }
  Result<void> restore_transport_locked(snapshot::SectionReader& in) override;

  uint32_t read_register(uint64_t offset);
  void     write_register(uint64_t offset, uint32_t value);
  void     raise_locked(uint32_t reason);

  InterruptLine& line_;
  uint32_t       interrupt_status_ = 0;  // guarded by mutex_
};

}  // namespace ember::virtio
