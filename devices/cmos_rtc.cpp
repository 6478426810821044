#include "devices/cmos_rtc.h"

#include <ctime>

namespace ember {

CmosRtc::CmosRtc(std::function<int64_t()> now) : now_{std::move(now)} {
  ram_[kRegisterA] = 0x26;         // 32.768 kHz time base, 1024 Hz rate; UIP clear
  ram_[kRegisterB] = k24HourMode;  // BCD, 24-hour: what PC firmware leaves
}

int64_t CmosRtc::host_utc_seconds() {
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return now.tv_sec;
}

void CmosRtc::read(const Access& access, std::span<uint8_t> data) {
  const std::lock_guard lock{mutex_};
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t port = access.offset + i;
    // The index port is write-only; it reads as an undriven bus.
    data[i] = port == 1 ? read_register(index_) : 0xff;
  }
}

void CmosRtc::write(const Access& access, std::span<const uint8_t> data) {
  const std::lock_guard lock{mutex_};
  for (size_t i = 0; i < data.size(); ++i) {
    const uint64_t port = access.offset + i;
    if (port == 0) index_ = data[i] & 0x7f;  // bit 7 is the PC's NMI mask, not part of the index
    else if (port == 1) write_register(index_, data[i]);
  }
}

std::tm CmosRtc::guest_time() const {
  if (ram_[kRegisterB] & kSet) return held_;
  const time_t seconds = static_cast<time_t>(now_() + offset_seconds_);
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

uint8_t CmosRtc::read_register(uint8_t index) const {
  switch (index) {
    case kSeconds: return encode(guest_time().tm_sec % 60);  // a leap second reads as :00
    case kMinutes: return encode(guest_time().tm_min);
    case kHours: {
      const int hour = guest_time().tm_hour;
      if (ram_[kRegisterB] & k24HourMode) return encode(hour);
      // 12-hour mode: 12, 1..11 with bit 7 set for PM.
      const int twelve = hour % 12 == 0 ? 12 : hour % 12;
      return static_cast<uint8_t>(encode(twelve) | (hour >= 12 ? 0x80 : 0));
    }
    case kDayOfWeek: return encode(guest_time().tm_wday + 1);  // 1 = Sunday
    case kDayOfMonth: return encode(guest_time().tm_mday);
    case kMonth: return encode(guest_time().tm_mon + 1);
    case kYear: return encode((guest_time().tm_year + 1900) % 100);
    case kCentury: return encode((guest_time().tm_year + 1900) / 100);
    case kRegisterC: return 0;     // no interrupt flags: none are emulated
    case kRegisterD: return 0x80;  // VRT: the RAM and time are valid
    default: return ram_[index];
  }
}

void CmosRtc::write_register(uint8_t index, uint8_t value) {
  std::tm time = guest_time();
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
    case kRegisterA: ram_[kRegisterA] = value & 0x7f; return;  // UIP is read-only
    case kRegisterB: {
      const bool was_set = ram_[kRegisterB] & kSet, now_set = value & kSet;
      if (!was_set && now_set) held_ = time;  // the clock stops
      ram_[kRegisterB] = value;
      // The clock runs again from what the guest wrote while it was held.
      if (was_set && !now_set) offset_seconds_ = static_cast<int64_t>(timegm(&held_)) - now_();
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
  offset_seconds_ = static_cast<int64_t>(timegm(&time)) - now_();
}

}  // namespace ember
