#include "devices/cmos_rtc.h"

#include <algorithm>
#include <chrono>
#include <ctime>

namespace ember {
namespace {

constexpr int64_t kNanosPerSecond = 1'000'000'000;
constexpr int64_t kDayInSeconds = 86'400;
constexpr uint8_t kDivider32Khz = 2;  // register A bits 6:4: the time base is running
constexpr uint8_t kAlarmAny = 0xc0;   // an alarm byte with both top bits set matches every value

int64_t floor_div(int64_t value, int64_t divisor) {
  const int64_t quotient = value / divisor;
  return (value % divisor != 0 && (value < 0) != (divisor < 0)) ? quotient - 1 : quotient;
}

}  // namespace

CmosRtc::CmosRtc(InterruptLine& irq8, std::function<int64_t()> now_ns) : irq8_{irq8}, now_{std::move(now_ns)} {
  ram_[kRegisterA] = 0x26;         // 32.768 kHz time base, 1024 Hz rate
  ram_[kRegisterB] = k24HourMode;  // BCD, 24-hour, no interrupts: what PC firmware leaves
  flags_checked_ns_ = periodic_anchor_ns_ = now_();
}

CmosRtc::~CmosRtc() { stop(); }

void CmosRtc::stop() {
  {
    const std::lock_guard lock{mutex_};
    stopping_ = true;
  }
  changed_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t CmosRtc::host_utc_ns() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<int64_t>(now.tv_sec) * kNanosPerSecond + now.tv_nsec;
}

void CmosRtc::start() { thread_ = std::thread{[this] { interrupt_thread(); }}; }

bool CmosRtc::nmi_masked() const {
  const std::lock_guard lock{mutex_};
  return nmi_masked_;
}

void CmosRtc::read(const Access& access, std::span<uint8_t> data) {
  bool flags_cleared = false;
  {
    const std::lock_guard lock{mutex_};
    const int64_t now = now_();
    for (size_t i = 0; i < data.size(); ++i) {
      const uint64_t port = access.offset + i;
      // The index port is write-only; it reads as an undriven bus.
      data[i] = port == 1 ? read_register(index_, now) : 0xff;
      flags_cleared |= port == 1 && index_ == kRegisterC;
    }
  }
  if (flags_cleared) changed_.notify_all();  // the thread's deadlines may be back
}

void CmosRtc::write(const Access& access, std::span<const uint8_t> data) {
  bool rescheduled = false;
  {
    const std::lock_guard lock{mutex_};
    const int64_t now = now_();
    for (size_t i = 0; i < data.size(); ++i) {
      const uint64_t port = access.offset + i;
      if (port == 0) {
        index_ = data[i] & 0x7f;
        nmi_masked_ = (data[i] & 0x80) != 0;
      } else if (port == 1) {
        write_register(index_, data[i], now);
        rescheduled |= index_ == kRegisterA || index_ == kRegisterB;
      }
    }
  }
  if (rescheduled) changed_.notify_all();
}

void CmosRtc::update_interrupts() {
  const std::lock_guard lock{mutex_};
  collect_flags(now_());
  update_line();
}

int64_t CmosRtc::period_ns() const {
  const uint8_t rate = ram_[kRegisterA] & 0x0f;
  if (rate == 0 || ((ram_[kRegisterA] >> 4) & 7) != kDivider32Khz) return 0;
  // With the 32.768 kHz base, rates 1 and 2 repeat rates 8 and 9 (data
  // sheet, "Periodic Interrupt Rate"): 256 Hz and 128 Hz.
  const int shift = rate <= 2 ? rate + 6 : rate - 1;
  return (kNanosPerSecond << shift) / 32768;
}

bool CmosRtc::alarm_matches(const std::tm& time) const {
  auto matches = [&](uint8_t alarm, int value) { return (alarm & kAlarmAny) == kAlarmAny || alarm == encode(value); };
  int hour = time.tm_hour;
  if (!(ram_[kRegisterB] & k24HourMode)) {
    const int twelve = hour % 12 == 0 ? 12 : hour % 12;
    const uint8_t encoded = static_cast<uint8_t>(encode(twelve) | (hour >= 12 ? 0x80 : 0));
    const uint8_t alarm = ram_[kHoursAlarm];
    if ((alarm & kAlarmAny) != kAlarmAny && alarm != encoded) return false;
    hour = -1;  // matched above
  }
  return matches(ram_[kSecondsAlarm], time.tm_sec % 60) && matches(ram_[kMinutesAlarm], time.tm_min) &&
         (hour < 0 || matches(ram_[kHoursAlarm], hour));
}

void CmosRtc::collect_flags(int64_t now) {
  // The host's wall clock stepped back (an NTP or manual step): time is
  // counted again from now, so the interrupts resume at the next period and
  // second instead of waiting out the step.
  if (now < flags_checked_ns_) flags_checked_ns_ = now;
  if (now < periodic_anchor_ns_) periodic_anchor_ns_ = now;
  const int64_t since = std::max(flags_checked_ns_, periodic_anchor_ns_);
  if (const int64_t period = period_ns(); period != 0 && now > since &&
      floor_div(now - periodic_anchor_ns_, period) > floor_div(since - periodic_anchor_ns_, period)) {
    flags_ |= kPeriodicFlag;
  }
  // Update cycles (and the alarm check after each) happen at the host's
  // second boundaries, and not while SET holds the clock.
  const int64_t first_second = floor_div(flags_checked_ns_, kNanosPerSecond) + 1;
  const int64_t last_second = floor_div(now, kNanosPerSecond);
  if (!(ram_[kRegisterB] & kSet) && last_second >= first_second) {
    flags_ |= kUpdateFlag;
    // With the alarm interrupt enabled the thread calls this every second;
    // otherwise only the latest boundary is looked at (at most a day's).
    const int64_t from = (ram_[kRegisterB] & kAlarmEnable) ? std::max(first_second, last_second - kDayInSeconds + 1) : last_second;
    for (int64_t second = from; second <= last_second && !(flags_ & kAlarmFlag); ++second) {
      const time_t guest_seconds = static_cast<time_t>(second + offset_seconds_);
      std::tm broken{};
      gmtime_r(&guest_seconds, &broken);
      if (alarm_matches(broken)) flags_ |= kAlarmFlag;
    }
  }
  flags_checked_ns_ = now;
}

void CmosRtc::update_line() {
  const bool asserted = (flags_ & ram_[kRegisterB] & (kPeriodicFlag | kAlarmFlag | kUpdateFlag)) != 0;
  if (asserted == line_) return;
  line_ = asserted;
  irq8_.set_level(asserted);
}

std::optional<int64_t> CmosRtc::next_deadline(int64_t now) const {
  // A flag already set changes nothing until the guest reads register C
  // (which wakes this thread): no deadline for it, so a guest that stopped
  // reading C does not keep the thread waking 8192 times a second.
  std::optional<int64_t> next;
  const uint8_t b = ram_[kRegisterB];
  if (const int64_t period = period_ns(); (b & kPeriodicEnable) && period != 0 && !(flags_ & kPeriodicFlag)) {
    next = periodic_anchor_ns_ + (floor_div(now - periodic_anchor_ns_, period) + 1) * period;
  }
  const bool update_pending = (b & kUpdateEnable) && !(flags_ & kUpdateFlag);
  const bool alarm_pending = (b & kAlarmEnable) && !(flags_ & kAlarmFlag);
  if ((update_pending || alarm_pending) && !(b & kSet)) {
    const int64_t boundary = (floor_div(now, kNanosPerSecond) + 1) * kNanosPerSecond;
    next = next ? std::min(*next, boundary) : boundary;
  }
  return next;
}

// Wakes at each deadline while an interrupt is enabled, and sleeps until a
// register A or B write otherwise. A line already raised stays raised until
// the guest reads register C, so a guest that never does gets no storm.
void CmosRtc::interrupt_thread() {
  std::unique_lock lock{mutex_};
  while (!stopping_) {
    const int64_t now = now_();
    collect_flags(now);
    update_line();
    const auto deadline = next_deadline(now);
    if (!deadline) {
      changed_.wait(lock);
      continue;
    }
    changed_.wait_for(lock, std::chrono::nanoseconds(*deadline - now));
  }
}

std::tm CmosRtc::guest_time(int64_t now) const {
  if (ram_[kRegisterB] & kSet) return held_;
  const time_t seconds = static_cast<time_t>(floor_div(now, kNanosPerSecond) + offset_seconds_);
  std::tm broken{};
  gmtime_r(&seconds, &broken);
  return broken;
}

uint8_t CmosRtc::encode(int value) const {
  if (ram_[kRegisterB] & kBinaryMode) return static_cast<uint8_t>(value);
  return static_cast<uint8_t>((value / 10) << 4 | value % 10);
}

int CmosRtc::decode(uint8_t value) const {
  if (ram_[kRegisterB] & kBinaryMode) return value;
  return (value >> 4) * 10 + (value & 0x0f);
}

uint8_t CmosRtc::read_register(uint8_t index, int64_t now) {
  switch (index) {
    case kSeconds: return encode(guest_time(now).tm_sec % 60);  // a leap second reads as :00
    case kMinutes: return encode(guest_time(now).tm_min);
    case kHours: {
      const int hour = guest_time(now).tm_hour;
      if (ram_[kRegisterB] & k24HourMode) return encode(hour);
      // 12-hour mode: 12, 1..11 with bit 7 set for PM.
      const int twelve = hour % 12 == 0 ? 12 : hour % 12;
      return static_cast<uint8_t>(encode(twelve) | (hour >= 12 ? 0x80 : 0));
    }
    case kDayOfWeek: return encode(guest_time(now).tm_wday + 1);  // 1 = Sunday
    case kDayOfMonth: return encode(guest_time(now).tm_mday);
    case kMonth: return encode(guest_time(now).tm_mon + 1);
    case kYear: return encode((guest_time(now).tm_year + 1900) % 100);
    case kCentury: return encode((guest_time(now).tm_year + 1900) / 100);
    case kRegisterA: {
      const bool updating = !(ram_[kRegisterB] & kSet) && ((now % kNanosPerSecond) + kNanosPerSecond) % kNanosPerSecond >=
                                                              kNanosPerSecond - kUpdateInProgressNs;
      return static_cast<uint8_t>(ram_[kRegisterA] | (updating ? kUpdateInProgress : 0));
    }
    case kRegisterC: {
      collect_flags(now);
      const bool irq = (flags_ & ram_[kRegisterB] & (kPeriodicFlag | kAlarmFlag | kUpdateFlag)) != 0;
      const auto value = static_cast<uint8_t>(flags_ | (irq ? kIrqFlag : 0));
      flags_ = 0;  // reading C clears every flag and lowers IRQ 8
      update_line();
      return value;
    }
    case kRegisterD: return 0x80;  // VRT: the RAM and time are valid
    default: return ram_[index];
  }
}

void CmosRtc::write_register(uint8_t index, uint8_t value, int64_t now) {
  std::tm time = guest_time(now);
  switch (index) {
    case kSeconds: time.tm_sec = decode(value); break;
    case kMinutes: time.tm_min = decode(value); break;
    case kHours:
      if (ram_[kRegisterB] & k24HourMode) time.tm_hour = decode(value & 0x7f);
      else time.tm_hour = decode(value & 0x7f) % 12 + (value & 0x80 ? 12 : 0);
      break;
    case kDayOfMonth: time.tm_mday = decode(value); break;
    case kMonth: time.tm_mon = decode(value) - 1; break;
    case kYear: time.tm_year = (time.tm_year + 1900) / 100 * 100 + decode(value) - 1900; break;
    case kCentury: time.tm_year = decode(value) * 100 + (time.tm_year + 1900) % 100 - 1900; break;
    case kDayOfWeek: return;  // derived from the date
    case kRegisterA:
      collect_flags(now);
      ram_[kRegisterA] = value & 0x7f;  // UIP is read-only
      periodic_anchor_ns_ = now;        // a new rate starts its period now
      return;
    case kRegisterB: {
      collect_flags(now);  // what happened under the old settings
      const bool was_set = ram_[kRegisterB] & kSet, now_set = value & kSet;
      if (!was_set && now_set) held_ = time;  // the clock stops
      // SET ends an update cycle in progress and clears UIE (data sheet, "SET").
      ram_[kRegisterB] = now_set ? static_cast<uint8_t>(value & ~kUpdateEnable) : value;
      // The clock runs again from what the guest wrote while it was held.
      if (was_set && !now_set) offset_seconds_ = static_cast<int64_t>(timegm(&held_)) - floor_div(now, kNanosPerSecond);
      update_line();  // an enable for a flag already set raises IRQF at once
      return;
    }
    case kRegisterC:
    case kRegisterD: return;  // read-only
    default: ram_[index] = value; return;
  }
  if (ram_[kRegisterB] & kSet) {
    held_ = time;  // taken as written when SET clears
    return;
  }
  // A write with the clock running (no SET): the field takes effect at once
  // (timegm normalises an out-of-range field rather than failing on it).
  offset_seconds_ = static_cast<int64_t>(timegm(&time)) - floor_div(now, kNanosPerSecond);
}

}  // namespace ember

namespace ember {

// The guest's clock is kept as an offset from the host's wall clock, so a
// restored guest reads the host's time now (shifted as it had set it), not
// the time of the snapshot. The periodic interrupt restarts its phase.
void CmosRtc::save(snapshot::SectionWriter& out) {
  std::lock_guard lock{mutex_};
  out.u8(index_).boolean(nmi_masked_).u64(static_cast<uint64_t>(offset_seconds_));
  for (const int field : {held_.tm_sec, held_.tm_min, held_.tm_hour, held_.tm_mday, held_.tm_mon, held_.tm_year, held_.tm_wday,
                          held_.tm_yday}) {
    out.u32(static_cast<uint32_t>(field));
  }
  out.bytes(ram_).u8(flags_).boolean(line_);
}

Result<void> CmosRtc::restore(snapshot::SectionReader& in) {
  const uint8_t index = in.u8();
  const bool nmi_masked = in.boolean();
  const auto offset_seconds = static_cast<int64_t>(in.u64());
  std::tm held{};
  int* const fields[] = {&held.tm_sec, &held.tm_min, &held.tm_hour, &held.tm_mday,
                         &held.tm_mon, &held.tm_year, &held.tm_wday, &held.tm_yday};
  constexpr int kLowest[] = {0, 0, 0, 0, 0, -1900, 0, 0}, kHighest[] = {60, 59, 23, 31, 11, 8100, 6, 365};
  for (size_t i = 0; i < 8; ++i) {
    *fields[i] = static_cast<int>(in.u32());
    if (*fields[i] < kLowest[i] || *fields[i] > kHighest[i]) in.refuse("has a held time with a field out of range");
  }
  const auto ram = in.bytes(128);
  const uint8_t flags = in.u8();
  const bool line = in.boolean();
  if (index > 0x7f) in.refuse("has a register index above 127");
  if (ram.size() != 128) in.refuse("does not hold 128 bytes of CMOS RAM");
  // Ten years either way is more than any guest sets.
  if (offset_seconds < -315'576'000 || offset_seconds > 315'576'000) in.refuse("has a clock offset of more than ten years");
  if ((flags & ~0x70) != 0) in.refuse("has register C flags other than PF, AF and UF");
  if (auto done = in.finish(); !done) return done;
  std::lock_guard lock{mutex_};
  index_ = index, nmi_masked_ = nmi_masked, offset_seconds_ = offset_seconds, held_ = held;
  std::copy(ram.begin(), ram.end(), ram_.begin());
  flags_ = flags;
  line_ = line;
  flags_checked_ns_ = periodic_anchor_ns_ = now_();
  update_line();
  changed_.notify_all();
  return {};
}

}  // namespace ember
