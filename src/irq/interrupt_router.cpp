#include "irq/interrupt_router.h"

#include <string>

#include "base/log.h"

namespace ember {
namespace {

constexpr uint32_t kXapicBroadcast = 0xff;
constexpr uint32_t kX2apicBroadcast = 0xffffffff;
constexpr uint32_t kFlatModel = 0xf;  // DFR[31:28]: 1111b flat, 0000b cluster (SDM 11.6.2.2)

}  // namespace

bool InterruptRouter::matches(const InterruptMessage& message, uint32_t index) const {
  switch (message.shorthand) {
    case Shorthand::Self:             return index == message.source_vcpu;
    case Shorthand::AllIncludingSelf: return true;
    case Shorthand::AllExcludingSelf: return index != message.source_vcpu;
    case Shorthand::None:             break;
  }
  const ApicAddressing& apic = *cpus_[index].addressing;
  const uint32_t destination = message.destination;
  if (!message.logical) {
    if (destination == (message.x2apic ? kX2apicBroadcast : kXapicBroadcast)) return true;
    return destination == apic.id.load(std::memory_order_relaxed);
  }
  const uint32_t ldr = apic.ldr.load(std::memory_order_relaxed);
  if (message.x2apic) {
    // x2APIC logical: cluster in bits 31:16, member bitmap in 15:0 (SDM 11.12.10.2).
    if (destination == kX2apicBroadcast) return true;
    return (destination >> 16) == (ldr >> 16) && (destination & ldr & 0xffff) != 0;
  }
  const uint32_t logical_id = ldr >> 24;
  const uint32_t target = destination & 0xff;
  if (target == kXapicBroadcast) return true;
  if ((apic.dfr.load(std::memory_order_relaxed) >> 28) == kFlatModel) return (logical_id & target) != 0;
  // Cluster model: cluster in bits 7:4, member bitmap in bits 3:0 (SDM 11.6.2.2).
  return (logical_id >> 4) == (target >> 4) && (logical_id & target & 0xf) != 0;
}

void InterruptRouter::post(uint32_t index, const InterruptMessage& message) const {
  InjectionMailbox& mailbox = *cpus_[index].mailbox;
  const bool wake_event = wakes_a_halted_cpu(message.mode) || message.mode == DeliveryMode::StartUp;
  if (wake_event && census_ != nullptr) census_->wake_event_posted();  // before the post: see halt_census.h
  bool kick = false;
  switch (message.mode) {
    case DeliveryMode::Fixed:
    case DeliveryMode::LowestPriority:
      kick = mailbox.post_vector(message.vector, message.level_triggered);
      break;
    case DeliveryMode::Nmi:
      kick = mailbox.post_nmi();
      break;
    case DeliveryMode::Init:
      kick = mailbox.post_init();
      break;
    case DeliveryMode::StartUp:
      kick = mailbox.post_sipi(message.vector);
      break;
    default:
      return;  // deliver() lets no other mode through
  }
  if (kick) cpus_[index].kickable->kick();
}

unsigned InterruptRouter::deliver(const InterruptMessage& message) const {
  // The one place every decoder's delivery mode arrives (ICR, IOAPIC
  // entry, MSI data): SMI, ExtINT and the reserved mode 3 reach no APIC
  // here, and say so; the caller then knows nothing took the interrupt (a
  // level-triggered IOAPIC pin sets no remote IRR it could never clear).
  switch (message.mode) {
    case DeliveryMode::Fixed:
    case DeliveryMode::LowestPriority:
    case DeliveryMode::Nmi:
    case DeliveryMode::Init:
    case DeliveryMode::StartUp:
      break;
    default:
      EMBER_GUEST_WARNING("interrupt delivery mode " + std::to_string(static_cast<int>(message.mode)) +
                          (static_cast<int>(message.mode) == 3 ? " (reserved)" : "") + " is not supported; dropped");
      return 0;
  }
  const bool fixed_vector = message.mode == DeliveryMode::Fixed || message.mode == DeliveryMode::LowestPriority;
  if (fixed_vector && message.vector < 16) {
    // Vectors 0-15 are reserved; an APIC refuses them (SDM 11.5.2, "illegal vector").
    EMBER_GUEST_WARNING("interrupt with illegal vector " + std::to_string(message.vector) + " dropped");
    return 0;
  }
  if (message.mode == DeliveryMode::LowestPriority && message.shorthand == Shorthand::None) {
    // Lowest-priority arbitration: the matching APIC with the lowest TPR;
    // ties go to the lowest VCPU index (SDM 11.6.2.4 leaves this open).
    int chosen = -1;
    uint8_t lowest = 0xff;
    for (uint32_t i = 0; i < cpus_.size(); ++i) {
      if (!matches(message, i)) continue;
      const uint8_t tpr = cpus_[i].addressing->tpr.load(std::memory_order_relaxed);
      if (chosen < 0 || tpr < lowest) {
        chosen = static_cast<int>(i);
        lowest = tpr;
      }
    }
    if (chosen < 0) return 0;
    post(static_cast<uint32_t>(chosen), message);
    return 1;
  }
  unsigned reached = 0;
  for (uint32_t i = 0; i < cpus_.size(); ++i) {
    if (!matches(message, i)) continue;
    post(i, message);
    ++reached;
  }
  return reached;
}

}  // namespace ember
