#include "devices/acpi_pm.h"

#include "base/log.h"

namespace ember {
namespace {

// PM1 control (ACPI 6.5, Table 4.16): SCI_EN bit 0, SLP_TYPx bits 12:10,
// SLP_EN bit 13 (write-only).
constexpr uint16_t kSciEnabled = 1u << 0;
constexpr uint16_t kSleepTypeShift = 10, kSleepTypeMask = 7u << kSleepTypeShift;
constexpr uint16_t kSleepEnable = 1u << 13;

}  // namespace

AcpiPm::AcpiPm(MachineControl& control, std::function<uint64_t()> now_ns) : control_{control}, now_ns_{std::move(now_ns)} {}

void AcpiPm::read(const Access& access, std::span<uint8_t> data) {
  // The PM timer's four bytes come from one clock reading, so a 32-bit read
  // is one moment, never a mix of two around a carry (which would make the
  // count run backwards and Linux drop the timer).
  const auto ticks = static_cast<uint32_t>(static_cast<unsigned __int128>(now_ns_()) * kTimerHz / 1'000'000'000u);
  const std::lock_guard lock{mutex_};
  for (size_t i = 0; i < data.size(); ++i) data[i] = register_byte(access.offset + i, ticks);
}

void AcpiPm::write(const Access& access, std::span<const uint8_t> data) {
  bool control_touched = false;
  {
    const std::lock_guard lock{mutex_};
    for (size_t i = 0; i < data.size(); ++i) {
      const uint64_t offset = access.offset + i;
      write_byte(offset, data[i]);
      control_touched |= offset == 5;
    }
  }
  if (control_touched) control_written();
}

uint8_t AcpiPm::register_byte(uint64_t offset, uint32_t timer_ticks) const {
  switch (offset) {
    case 0:
    case 1: return 0;  // PM1 status: no event ever happens
    case 2:
    case 3: return static_cast<uint8_t>(enable_ >> (8 * (offset - 2)));
    case 4:
    case 5: {
      const uint16_t value = static_cast<uint16_t>((control_bits_ & ~kSleepEnable) | kSciEnabled);
      return static_cast<uint8_t>(value >> (8 * (offset - 4)));
    }
    case 8:
    case 9:
    case 10:
    case 11: return static_cast<uint8_t>(timer_ticks >> (8 * (offset - 8)));  // all 32 bits: the FADT sets TMR_VAL_EXT
    default: return 0;  // the gap at 6-7, and bytes of an access that runs past the block
  }
}

void AcpiPm::write_byte(uint64_t offset, uint8_t value) {
  switch (offset) {
    case 2:
    case 3: {
      const int shift = static_cast<int>(8 * (offset - 2));
      enable_ = static_cast<uint16_t>((enable_ & ~(0xff << shift)) | value << shift);
      return;
    }
    case 4:
    case 5: {
      const int shift = static_cast<int>(8 * (offset - 4));
      control_bits_ = static_cast<uint16_t>((control_bits_ & ~(0xff << shift)) | value << shift);
      return;
    }
    default: return;  // status bits are never set, so writing 1s clears nothing; the timer is read-only
  }
}

// A sleep request is acted on when the byte holding SLP_EN is written, as
// Linux writes the whole register once it has set SLP_TYP
// (acpi_hw_legacy_sleep).
void AcpiPm::control_written() {
  uint16_t value;
  {
    const std::lock_guard lock{mutex_};
    value = control_bits_;
    control_bits_ &= static_cast<uint16_t>(~kSleepEnable);
  }
  if ((value & kSleepEnable) == 0) return;
  const unsigned type = (value & kSleepTypeMask) >> kSleepTypeShift;
  if (type == kSleepTypeS5) {
    control_.request_stop(Outcome{Outcome::Kind::PowerOff, 0, "the guest powered off (ACPI S5)"});
    return;
  }
  EMBER_GUEST_WARNING("acpi-pm: sleep type " + std::to_string(type) + " is not a state ember offers (only S5, type " +
                      std::to_string(kSleepTypeS5) + "); ignored");
}

}  // namespace ember

namespace ember {

void AcpiPm::save(snapshot::SectionWriter& out) {
  std::lock_guard lock{mutex_};
  out.u16(enable_).u16(control_bits_);
}

Result<void> AcpiPm::restore(snapshot::SectionReader& in) {
  const uint16_t enable = in.u16(), control_bits = in.u16();
  if (auto done = in.finish(); !done) return done;
  std::lock_guard lock{mutex_};
  enable_ = enable;
  control_bits_ = control_bits;
  return {};
}

}  // namespace ember
