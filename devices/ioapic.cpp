#include "devices/ioapic.h"

#include <cstring>
#include <string>

#include "base/log.h"

namespace ember {
namespace {

constexpr uint64_t kSelectOffset = 0x00, kWindowOffset = 0x10;
constexpr uint32_t kIdRegister = 0, kVersionRegister = 1, kArbitrationRegister = 2, kRedirectionBase = 0x10;
constexpr uint32_t kVersion = 0x11 | ((Ioapic::kPins - 1) << 16);  // 82093AA: version 0x11, max entry 23

// Redirection entry bits (82093AA 3.2.4).
constexpr uint64_t kRemoteIrr = 1ull << 14, kLevelTriggered = 1ull << 15, kMasked = 1ull << 16;
constexpr uint64_t kWritableLow = 0x1afff;  // vector, delivery mode, destination mode, polarity, trigger, mask
constexpr uint64_t kWritableHigh = 0xff000000;

}  // namespace

Ioapic::Ioapic(const InterruptRouter& router, uint8_t id) : router_{router}, id_{id} { redirection_.fill(kMasked); }

uint64_t Ioapic::redirection_entry(unsigned pin) {
  std::lock_guard lock{mutex_};
  return pin < kPins ? redirection_[pin] : 0;
}

void Ioapic::read(const Access& access, std::span<uint8_t> data) {
  if (data.size() != 4 || (access.offset != kSelectOffset && access.offset != kWindowOffset)) {
    EMBER_GUEST_WARNING("ioapic: ignoring " + std::to_string(data.size()) + "-byte read at offset " + std::to_string(access.offset));
    return;
  }
  std::lock_guard lock{mutex_};
  const uint32_t value = access.offset == kSelectOffset ? select_ : read_register(select_);
  std::memcpy(data.data(), &value, 4);
}

void Ioapic::write(const Access& access, std::span<const uint8_t> data) {
  if (data.size() != 4 || (access.offset != kSelectOffset && access.offset != kWindowOffset)) {
    EMBER_GUEST_WARNING("ioapic: ignoring " + std::to_string(data.size()) + "-byte write at offset " + std::to_string(access.offset));
    return;
  }
  uint32_t value = 0;
  std::memcpy(&value, data.data(), 4);
  std::lock_guard lock{mutex_};
  if (access.offset == kSelectOffset) {
    select_ = value & 0xff;
  } else {
    write_register(select_, value);
  }
}

uint32_t Ioapic::read_register(uint32_t index) const {
  switch (index) {
    case kIdRegister:          return id_ << 24;
    case kVersionRegister:     return kVersion;
    case kArbitrationRegister: return id_ << 24;
    default: break;
  }
  const uint32_t entry = (index - kRedirectionBase) / 2;
  if (index < kRedirectionBase || entry >= kPins) return 0;  // an out-of-range select reads as zero
  const uint64_t value = redirection_[entry];
  return static_cast<uint32_t>(index % 2 == 0 ? value : value >> 32);
}

void Ioapic::write_register(uint32_t index, uint32_t value) {
  if (index == kIdRegister) {
    id_ = (value >> 24) & 0xf;
    return;
  }
  const uint32_t pin = (index - kRedirectionBase) / 2;
  if (index < kRedirectionBase || pin >= kPins) {
    EMBER_GUEST_WARNING("ioapic: write to register " + std::to_string(index) + " ignored");
    return;
  }
  uint64_t& entry = redirection_[pin];
  if (index % 2 == 1) {
    entry = (entry & 0xffffffff) | (uint64_t{value & kWritableHigh} << 32);
    return;
  }
  const uint64_t read_only = entry & kRemoteIrr;
  entry = (entry & ~uint64_t{0xffffffff}) | (value & kWritableLow) | read_only;
  if ((entry & kLevelTriggered) == 0) entry &= ~kRemoteIrr;  // remote IRR means nothing for edge pins
  deliver_if_level_pending(pin);
}

void Ioapic::set_pin(unsigned pin, bool asserted) {
  if (pin >= kPins) return;
  std::lock_guard lock{mutex_};
  const bool rising = asserted && !asserted_[pin];
  asserted_[pin] = asserted;
  const uint64_t entry = redirection_[pin];
  if (entry & kMasked) return;
  if (entry & kLevelTriggered) deliver_if_level_pending(pin);
  else if (rising) deliver(pin);
}

void Ioapic::end_of_interrupt(uint8_t vector) {
  std::lock_guard lock{mutex_};
  for (unsigned pin = 0; pin < kPins; ++pin) {
    uint64_t& entry = redirection_[pin];
    if ((entry & kRemoteIrr) == 0 || (entry & 0xff) != vector) continue;
    entry &= ~kRemoteIrr;
    deliver_if_level_pending(pin);  // the line is still up: deliver again
  }
}

void Ioapic::deliver_if_level_pending(unsigned pin) {
  const uint64_t entry = redirection_[pin];
  if ((entry & kLevelTriggered) && !(entry & kMasked) && !(entry & kRemoteIrr) && asserted_[pin]) deliver(pin);
}

void Ioapic::deliver(unsigned pin) {
  const uint64_t entry = redirection_[pin];
  InterruptMessage message;
  message.vector = static_cast<uint8_t>(entry & 0xff);
  message.mode = static_cast<DeliveryMode>((entry >> 8) & 7);
  message.logical = (entry >> 11) & 1;
  message.level_triggered = (entry & kLevelTriggered) != 0;
  message.destination = static_cast<uint32_t>(entry >> 56);
  const unsigned reached = router_.deliver(message);
  // Remote IRR waits for an EOI; if nobody took the interrupt none will come.
  if (message.level_triggered && reached > 0) redirection_[pin] |= kRemoteIrr;
}

bool Ioapic::routes_wake_events() {
  std::lock_guard lock{mutex_};
  for (const uint64_t entry : redirection_) {
    if ((entry & kMasked) == 0 && wakes_a_halted_cpu(static_cast<DeliveryMode>((entry >> 8) & 7))) return true;
  }
  return false;
}

}  // namespace ember

namespace ember {

void Ioapic::save(snapshot::SectionWriter& out) {
  std::lock_guard lock{mutex_};
  out.u32(select_).u32(id_);
  for (unsigned pin = 0; pin < kPins; ++pin) out.u64(redirection_[pin]).boolean(asserted_[pin]);
}

Result<void> Ioapic::restore(snapshot::SectionReader& in) {
  const uint32_t select = in.u32(), id = in.u32();
  std::array<uint64_t, kPins> redirection{};
  std::array<bool, kPins> asserted{};
  for (unsigned pin = 0; pin < kPins; ++pin) {
    redirection[pin] = in.u64();
    asserted[pin] = in.boolean();
    // What a guest can write, plus the remote IRR of a level-triggered pin.
    const uint64_t allowed = (uint64_t{kWritableHigh} << 32) | kWritableLow | kRemoteIrr;
    if ((redirection[pin] & ~allowed) != 0 || ((redirection[pin] & kRemoteIrr) != 0 && (redirection[pin] & kLevelTriggered) == 0)) {
      in.refuse("has an impossible redirection entry for pin " + std::to_string(pin));
    }
  }
  if (id > 0xff) in.refuse("has an IOAPIC ID above 255");
  if (auto done = in.finish(); !done) return done;
  std::lock_guard lock{mutex_};
  select_ = select;
  id_ = id;
  redirection_ = redirection;
  asserted_ = asserted;
  return {};
}

}  // namespace ember
