#include "devices/pit8254.h"

#include <string>

#include "base/log.h"

namespace ember {
namespace {

constexpr uint64_t kNanosPerSecond = 1'000'000'000;

uint64_t ns_to_ticks(uint64_t ns) {
  return ns / kNanosPerSecond * Pit8254::kFrequencyHz + ns % kNanosPerSecond * Pit8254::kFrequencyHz / kNanosPerSecond;
}
uint64_t ticks_to_ns(uint64_t ticks) {
  return ticks / Pit8254::kFrequencyHz * kNanosPerSecond + ticks % Pit8254::kFrequencyHz * kNanosPerSecond / Pit8254::kFrequencyHz;
}

constexpr uint64_t kControlPort = 3;
constexpr uint8_t kReadBack = 3;
// 200 us, rounded up to whole ticks.
constexpr uint64_t kMinIrqPeriodTicks = (200'000 * Pit8254::kFrequencyHz + kNanosPerSecond - 1) / kNanosPerSecond;

bool periodic(uint8_t mode) { return mode == 2 || mode == 3; }
// Modes 1 and 5 count only after a rising gate (82C54, "Gate").
bool gate_triggered(uint8_t mode) { return mode == 1 || mode == 5; }

}  // namespace

Pit8254::Pit8254(InterruptLine& irq0, Clock clock) : irq0_{irq0}, clock_{std::move(clock)} {
  thread_ = std::thread{[this] { irq0_thread(); }};
}

Pit8254::~Pit8254() { stop(); }

void Pit8254::stop() {
  {
    std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t Pit8254::ticks(const Channel& channel, uint64_t now) const {
  if (!channel.loaded) return 0;
  if (!channel.gate) return channel.frozen_ticks;
  return channel.frozen_ticks + ns_to_ticks(now - channel.start);
}

uint16_t Pit8254::count(const Channel& channel, uint64_t now) const {
  const uint64_t elapsed = ticks(channel, now);
  const uint32_t reload = channel.reload;
  switch (channel.mode) {
    case 2:
      return static_cast<uint16_t>(reload - elapsed % reload);
    case 3:  // counts down by two, twice per period
      return static_cast<uint16_t>((reload - (2 * elapsed) % reload) & ~1u);
    default:  // 0, 1, 4, 5: down once, then on through 0xffff
      return static_cast<uint16_t>((reload - elapsed) & 0xffff);
  }
}

bool Pit8254::output(const Channel& channel, uint64_t now) const {
  if (!channel.loaded) return channel.mode != 0;  // mode 0 starts low, the others high
  const uint64_t elapsed = ticks(channel, now);
  const uint32_t reload = channel.reload;
  switch (channel.mode) {
    case 0:
    case 1:
      return elapsed >= reload;  // high at terminal count (1: once triggered)
    case 2:
      return elapsed % reload != reload - 1;  // low for the last tick of each period
    case 3:
      return elapsed % reload < (reload + 1) / 2;  // high for the first half
    default:  // 4 and 5: one low tick at terminal count
      return elapsed != reload;
  }
}

uint8_t Pit8254::status(const Channel& channel, uint64_t now) const {
  // 82C54 status byte: output, null count, access mode, mode, BCD.
  return static_cast<uint8_t>((output(channel, now) ? 0x80 : 0) | (channel.loaded ? 0 : 0x40) | (channel.access << 4) |
                              (channel.mode << 1));
}

void Pit8254::read(const Access& access, std::span<uint8_t> data) {
  if (data.size() != 1 || access.offset >= kPortCount) return;
  std::lock_guard lock{mutex_};
  if (access.offset == kControlPort) return;  // the control word is write-only; reads as zero here
  data[0] = read_counter(channels_[access.offset], clock_());
}

uint8_t Pit8254::read_counter(Channel& channel, uint64_t now) {
  if (channel.latched_status) {
    const uint8_t value = *channel.latched_status;
    channel.latched_status.reset();
    return value;
  }
  const uint16_t value = channel.latched_count ? *channel.latched_count : count(channel, now);
  bool high = false;
  if (channel.access == 1) high = false;
  else if (channel.access == 2) high = true;
  else high = channel.latched_count ? channel.latched_high_next : channel.read_high_next;
  if (channel.access == 3) {
    if (channel.latched_count) channel.latched_high_next = !channel.latched_high_next;
    else channel.read_high_next = !channel.read_high_next;
  }
  // A latched count stays until it has been read completely.
  if (channel.latched_count && (channel.access != 3 || !channel.latched_high_next)) channel.latched_count.reset();
  return static_cast<uint8_t>(high ? value >> 8 : value & 0xff);
}

void Pit8254::write(const Access& access, std::span<const uint8_t> data) {
  if (data.size() != 1 || access.offset >= kPortCount) return;
  std::lock_guard lock{mutex_};
  const uint64_t now = clock_();
  if (access.offset == kControlPort) write_control(data[0], now);
  else write_counter(channels_[access.offset], data[0], now);
  schedule_irq0(now);
}

void Pit8254::write_control(uint8_t value, uint64_t now) {
  const uint8_t select = value >> 6;
  if (select == kReadBack) {
    // Read-back (82C54): bit 5 clear latches counts, bit 4 clear latches
    // status, bits 3:1 select channels 2:0.
    for (unsigned i = 0; i < 3; ++i) {
      if (!((value >> (i + 1)) & 1)) continue;
      Channel& channel = channels_[i];
      if (!(value & 0x20) && !channel.latched_count) {
        channel.latched_count = count(channel, now);
        channel.latched_high_next = false;
      }
      if (!(value & 0x10) && !channel.latched_status) channel.latched_status = status(channel, now);
    }
    return;
  }
  Channel& channel = channels_[select];
  const uint8_t access = (value >> 4) & 3;
  if (access == 0) {  // counter latch command
    if (!channel.latched_count) {
      channel.latched_count = count(channel, now);
      channel.latched_high_next = false;
    }
    return;
  }
  if (value & 1) EMBER_GUEST_WARNING("pit8254: BCD counting is not supported; counting in binary");
  uint8_t mode = (value >> 1) & 7;
  if (mode > 5) mode -= 4;  // 6 and 7 are aliases of 2 and 3
  const bool gate = channel.gate;
  channel = Channel{};
  channel.mode = mode;
  channel.access = access;
  channel.gate = gate;
}

void Pit8254::write_counter(Channel& channel, uint8_t value, uint64_t now) {
  switch (channel.access) {
    case 1:
      load(channel, value, now);
      break;
    case 2:
      load(channel, uint32_t{value} << 8, now);
      break;
    default:
      if (!channel.write_high_next) {
        channel.pending_low = value;
        channel.write_high_next = true;
      } else {
        channel.write_high_next = false;
        load(channel, channel.pending_low | (uint32_t{value} << 8), now);
      }
      break;
  }
}

void Pit8254::load(Channel& channel, uint32_t value, uint64_t now) {
  channel.reload = value == 0 ? 0x10000 : value;
  channel.loaded = true;
  channel.start = now;
  channel.frozen_ticks = 0;
  // Modes 1 and 5 wait for a rising gate; a gate held high never rises.
  if (gate_triggered(channel.mode)) channel.loaded = false;
}

void Pit8254::schedule_irq0(uint64_t now) {
  const Channel& channel = channels_[0];
  std::optional<uint64_t> next;
  if (channel.loaded && channel.gate) {
    const uint64_t elapsed = ticks(channel, now);
    if (periodic(channel.mode)) {
      // At most one interrupt per kMinIrqPeriodTicks, as KVM's in-kernel PIT
      // (arch/x86/kvm/i8254.c, min_timer_period_us = 200): a reload of 1
      // would wake this thread over a million times a second. The count the
      // guest reads keeps the true reload.
      const uint64_t period = std::max<uint64_t>(channel.reload, kMinIrqPeriodTicks);
      next = channel.start + ticks_to_ns((elapsed / period + 1) * period);
    } else if ((channel.mode == 0 || channel.mode == 4) && elapsed < channel.reload) {
      next = channel.start + ticks_to_ns(channel.reload);
    }
  }
  if (next != next_irq0_) {
    next_irq0_ = next;
    changed_.notify_all();
  }
}

std::optional<uint64_t> Pit8254::next_irq0() {
  std::lock_guard lock{mutex_};
  return next_irq0_;
}

void Pit8254::irq0_thread() {
  std::unique_lock lock{mutex_};
  while (!stopping_) {
    if (!next_irq0_) {
      changed_.wait(lock);
      continue;
    }
    const uint64_t now = clock_();
    if (now < *next_irq0_) {
      // At most a second at a time: a clock that jumps cannot make the wait overflow.
      changed_.wait_for(lock, std::chrono::nanoseconds(std::min<uint64_t>(*next_irq0_ - now, 1'000'000'000)));
      continue;
    }
    // The edge: periods missed while this thread was late coalesce into one,
    // as an edge-triggered line would.
    schedule_irq0(now + 1);
    lock.unlock();
    irq0_.set_level(true);
    irq0_.set_level(false);
    lock.lock();
  }
}

void Pit8254::set_channel2_gate(bool high) {
  std::lock_guard lock{mutex_};
  Channel& channel = channels_[2];
  if (high == channel.gate) return;
  const uint64_t now = clock_();
  if (!high) {
    channel.frozen_ticks = ticks(channel, now);  // counting pauses while the gate is low
  } else if (gate_triggered(channel.mode) || periodic(channel.mode)) {
    // A rising gate (re)starts modes 1, 2, 3 and 5 from the reload value.
    channel.loaded = true;
    channel.frozen_ticks = 0;
    channel.start = now;
  } else {
    channel.start = now;  // modes 0 and 4 resume where they paused
  }
  channel.gate = high;
}

bool Pit8254::channel2_gate() {
  std::lock_guard lock{mutex_};
  return channels_[2].gate;
}

bool Pit8254::channel2_output() {
  std::lock_guard lock{mutex_};
  return output(channels_[2], clock_());
}

void SystemControlPort::read(const Access&, std::span<uint8_t> data) {
  if (data.size() != 1) return;
  // Bit 4 toggles every 15.09 us (DRAM refresh on a PC); bit 5 is channel 2's output.
  const bool refresh = (clock_() / 15'085) & 1;
  std::lock_guard lock{mutex_};
  data[0] = static_cast<uint8_t>((pit_.channel2_gate() ? 1 : 0) | (speaker_ ? 2 : 0) | (refresh ? 0x10 : 0) |
                                 (pit_.channel2_output() ? 0x20 : 0));
}

void SystemControlPort::write(const Access&, std::span<const uint8_t> data) {
  if (data.size() != 1) return;
  {
    std::lock_guard lock{mutex_};
    speaker_ = data[0] & 2;
  }
  pit_.set_channel2_gate(data[0] & 1);
}

}  // namespace ember

namespace ember {

// Times (`start`, the next IRQ 0) are on the machine's clock, which a
// restored machine continues from where the snapshot left it.
void Pit8254::save(snapshot::SectionWriter& out) {
  std::lock_guard lock{mutex_};
  for (const Channel& channel : channels_) {
    out.u8(channel.mode).u8(channel.access).u32(channel.reload).boolean(channel.loaded).u64(channel.start).boolean(channel.gate)
        .u64(channel.frozen_ticks).boolean(channel.write_high_next).u8(channel.pending_low).boolean(channel.read_high_next)
        .boolean(channel.latched_count.has_value()).u16(channel.latched_count.value_or(0)).boolean(channel.latched_high_next)
        .boolean(channel.latched_status.has_value()).u8(channel.latched_status.value_or(0));
  }
}

Result<void> Pit8254::restore(snapshot::SectionReader& in) {
  std::array<Channel, 3> channels{};
  for (Channel& channel : channels) {
    channel.mode = in.u8(), channel.access = in.u8(), channel.reload = in.u32(), channel.loaded = in.boolean();
    channel.start = in.u64(), channel.gate = in.boolean(), channel.frozen_ticks = in.u64();
    channel.write_high_next = in.boolean(), channel.pending_low = in.u8(), channel.read_high_next = in.boolean();
    const bool latched = in.boolean();
    const uint16_t latched_count = in.u16();
    if (latched) channel.latched_count = latched_count;
    channel.latched_high_next = in.boolean();
    const bool status = in.boolean();
    const uint8_t latched_status = in.u8();
    if (status) channel.latched_status = latched_status;
    if (channel.mode > 5) in.refuse("has a counter mode above 5");
    if (channel.access < 1 || channel.access > 3) in.refuse("has a counter access mode other than 1, 2 or 3");
    if (channel.reload < 1 || channel.reload > 0x10000) in.refuse("has a reload value outside 1 to 65536");
  }
  if (auto done = in.finish(); !done) return done;
  std::lock_guard lock{mutex_};
  channels_ = channels;
  // The schedule follows from channel 0, so it is recomputed, not saved.
  next_irq0_.reset();
  schedule_irq0(clock_());
  changed_.notify_all();  // the IRQ 0 thread takes the restored schedule
  return {};
}

void SystemControlPort::save(snapshot::SectionWriter& out) {
  std::lock_guard lock{mutex_};
  out.boolean(speaker_);
}

Result<void> SystemControlPort::restore(snapshot::SectionReader& in) {
  const bool speaker = in.boolean();
  if (auto done = in.finish(); !done) return done;
  std::lock_guard lock{mutex_};
  speaker_ = speaker;
  return {};
}

}  // namespace ember
