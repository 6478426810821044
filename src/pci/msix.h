// A PCI function's MSI-X (PCI Local Bus 3.0, 6.8.2): the capability in its
// configuration space, the vector table and the pending-bit array (PBA) in
// a BAR. A vector sent while the function or its entry is masked sets its
// pending bit and goes out when unmasked (6.8.2.9). Messages leave through
// ember's MSI path (irq/msi.h).
//
// Not thread-safe: the owning function's lock guards it, as it guards the
// configuration space it shares.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "irq/msi.h"
#include "pci/pci_config_space.h"

namespace ember {

class Msix final {
 public:
  // Adds the capability to `config`: `vectors` entries, the table at
  // `table_offset` and the PBA at `pba_offset` of BAR 0. Entries start masked.
  Msix(PciConfigSpace& config, MsiSender& msi, uint16_t vectors, uint32_t table_offset, uint32_t pba_offset);

  uint16_t vector_count() const { return static_cast<uint16_t>(table_.size()); }

  // After a configuration write at [offset, offset + size): once the
  // message control's enable or function mask changes, pending vectors go.
  void config_written(uint32_t offset, size_t size);

  // A BAR access at `offset`. nullopt: neither the table nor the PBA is
  // there. Otherwise it was served, or refused with the reason returned.
  std::optional<const char*> bar_access(uint64_t offset, std::span<uint8_t> data, bool write);

  // Sends `vector`, or marks it pending while masked; nothing while MSI-X
  // is disabled (the driver polls) or for a vector beyond the table.
  void send(uint16_t vector);

  // Whether an enabled, unmasked entry would send an NMI or INIT, which
  // wake a CPU halted with interrupts off (irq/halt_census.h).
  bool routes_wake_events() const;

 private:
  struct Entry {
    uint64_t address = 0;
    uint32_t data = 0;
    bool     masked = true;  // 6.8.2.9: entries start masked
  };
  bool enabled() const;
  bool function_masked() const;
  void write_entry(uint64_t table_offset, uint32_t value);
  void send_pending();

  PciConfigSpace&    config_;
  MsiSender&         msi_;
  const uint32_t     table_offset_, pba_offset_;
  uint8_t            capability_ = 0;
  std::vector<Entry> table_;
  std::vector<bool>  pending_;
};

}  // namespace ember
