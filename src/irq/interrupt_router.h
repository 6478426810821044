// Routes interrupt messages (IPIs, IOAPIC and MSI interrupts) to the VCPUs
// they name and posts them to those VCPUs' mailboxes.
//
// A LAPIC belongs to its VCPU thread; other threads never touch it. The
// router matches destinations against what each LAPIC publishes in
// ApicAddressing (atomics the owner updates whenever the guest writes its ID,
// LDR, DFR, TPR or SVR), so delivery is lock-free from any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "irq/halt_census.h"
#include "irq/injection_mailbox.h"
#include "irq/interrupt_message.h"

namespace ember {

struct ApicAddressing {
  std::atomic<uint32_t> id{0};
  std::atomic<uint32_t> ldr{0};
  std::atomic<uint32_t> dfr{0xffffffff};  // flat model
  std::atomic<uint8_t>  tpr{0};
  std::atomic<bool>     software_enabled{false};
  std::atomic<bool>     x2apic{false};
};

class Kickable {
 public:
  virtual ~Kickable() = default;
  virtual void kick() = 0;
};

class InterruptRouter final {
 public:
  struct Cpu {
    InjectionMailbox* mailbox;
    ApicAddressing*   addressing;
    Kickable*         kickable;
  };

  // `census` (may be null in tests) counts NMI/INIT/SIPI in flight.
  explicit InterruptRouter(HaltCensus* census = nullptr) : census_{census} {}

  // Machine assembly only, before any VCPU runs.
  void attach(const Cpu& cpu) { cpus_.push_back(cpu); }
  size_t size() const { return cpus_.size(); }

  // Any thread. Returns how many VCPUs the message reached.
  unsigned deliver(const InterruptMessage& message) const;

 private:
  bool matches(const InterruptMessage& message, uint32_t index) const;
  void post(uint32_t index, const InterruptMessage& message) const;

  HaltCensus*      census_;
  std::vector<Cpu> cpus_;
};

}  // namespace ember
