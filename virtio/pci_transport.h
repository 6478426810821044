// The virtio-pci transport for modern drivers (virtio 1.2 §4.1): a PCI
// function with vendor 0x1af4, device 0x1040 + the virtio device type, and
// one 64-bit memory BAR holding the common configuration, ISR, device
// configuration and notification structures and the MSI-X table and PBA.
// Status, features, queues and the queue service are the shared Transport's.
//
// Interrupts are MSI-X only (the function has no INTx pin): a used buffer
// sends the queue's vector, a configuration change the config vector,
// through ember's MSI path (irq/msi.h). A masked vector is remembered in the
// PBA and sent when unmasked (PCI 3.0, 6.8.2.9). Without MSI-X enabled the
// driver can only poll the ISR; Linux enables MSI-X.
//
// Notifications: queue N's notify address is BAR + kNotifyOffset + 4 * N
// (notify_off_multiplier 4), which the Machine hands to KVM_IOEVENTFD while
// the BAR decodes, wherever the guest puts it in the PCI window (the bus's
// window listener moves them). Notifications KVM does not catch reach
// bar_write() and take the same path, one exit each.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "irq/msi.h"
#include "pci/msix.h"
#include "pci/pci_bus.h"
#include "pci/pci_config_space.h"
#include "virtio/transport.h"

namespace ember::virtio {

class PciTransport final : public Transport, public PciFunction {
 public:
  // BAR layout: one 4 KiB page per structure.
  static constexpr uint64_t kCommonOffset = 0x0000, kIsrOffset = 0x1000, kDeviceOffset = 0x2000, kNotifyOffset = 0x3000,
                            kMsixTableOffset = 0x4000, kMsixPbaOffset = 0x5000, kBarSize = 0x8000;
  static constexpr uint32_t kNotifyMultiplier = 4;
  static constexpr uint16_t kNoVector = 0xffff;  // VIRTIO_MSI_NO_VECTOR

  // The BAR starts at `bar_address` (aligned to kBarSize), decoding off.
  PciTransport(const GuestMemory& memory, VirtioDevice& device, MsiSender& msi, uint64_t bar_address,
               QueueService::Mode mode = QueueService::Mode::kWorkerThreads);
  ~PciTransport() override;

  std::string_view      name() const override { return Transport::name(); }
  void                  config_read(uint32_t offset, std::span<uint8_t> data) override;
  void                  config_write(uint32_t offset, std::span<const uint8_t> data) override;
  std::optional<Window> decoded_memory() override;
  void                  bar_read(uint64_t offset, std::span<uint8_t> data, uint32_t vcpu) override;
  void                  bar_write(uint64_t offset, std::span<const uint8_t> data, uint32_t vcpu) override;

  uint16_t vector_count() const { return msix_.vector_count(); }
  // Whether an enabled, unmasked MSI-X entry would send an NMI or INIT,
  // which wake a CPU halted with interrupts off (HaltCensus).
  bool     routes_wake_events();

 private:
  // An access to VIRTIO_PCI_CAP_PCI_CFG's data window: where in the BAR it
  // goes (length 0: nowhere). nullopt: the access is not to the window.
  struct PciCfgAccess {
    uint32_t bar_offset;
    uint32_t length;
  };
  std::optional<PciCfgAccess> pci_cfg_access(uint32_t offset, size_t size);

  void signal_used_buffers_locked(uint16_t queue) override;
  void signal_config_change_locked() override;
  void reset_transport_locked() override;

  uint32_t common_read_locked(uint64_t offset, size_t size);
  void     common_write(uint64_t offset, size_t size, uint32_t value);
  void     bar_access_locked(uint64_t offset, std::span<uint8_t> data, bool write);

  PciConfigSpace         config_;       // guarded by mutex_
  Msix                   msix_;         // guarded by mutex_; its capability is config_'s first
  uint8_t                pci_cfg_capability_ = 0;
  uint8_t                isr_ = 0;      // guarded by mutex_
  uint16_t               config_vector_ = kNoVector;
  std::vector<uint16_t>  queue_vectors_;
};

}  // namespace ember::virtio
