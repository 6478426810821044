#include "devices/i8042.h"

#include "base/log.h"
#include "base/strings.h"

namespace ember {
namespace {

// Status register bits.
constexpr uint8_t kOutputFull = 0x01, kSystemFlag = 0x04, kLastWasCommand = 0x08, kUnlocked = 0x10, kAuxData = 0x20,
                  kTimeout = 0x40;
// Configuration byte bits.
constexpr uint8_t kKeyboardInterrupt = 0x01, kAuxInterrupt = 0x02, kKeyboardDisabled = 0x10, kAuxDisabled = 0x20;
// What a missing device "answers" (the PS/2 protocol's resend request).
constexpr uint8_t kNoDevice = 0xfe;

}  // namespace

uint8_t I8042::status() const {
  uint8_t value = kUnlocked | (configuration_ & kSystemFlag) | (last_write_was_command_ ? kLastWasCommand : 0);
  if (!output_.empty()) {
    value |= kOutputFull;
    if (output_.front().aux) value |= kAuxData;
    if (output_.front().timeout) value |= kTimeout;
  }
  return value;
}

void I8042::read(const Access& access, std::span<uint8_t> data) {
  if (data.size() != 1) return;  // the bus zero-filled it
  const std::lock_guard lock{mutex_};
  if (access.address == kCommandPort) {
    data[0] = status();
    return;
  }
  if (output_.empty()) return;  // an empty buffer reads as the last byte on real parts; 0 is as good
  data[0] = output_.front().byte;
  output_.pop_front();
  // The lines drop as the buffer empties, so the next byte is a new edge.
  keyboard_irq_.set_level(false);
  aux_irq_.set_level(false);
  update_irqs();
}

void I8042::write(const Access& access, std::span<const uint8_t> data) {
  if (data.size() != 1) {
    EMBER_GUEST_WARNING("i8042: ignoring a " + std::to_string(data.size()) + "-byte write to port " + hex(access.address));
    return;
  }
  bool reset;
  {
    const std::lock_guard lock{mutex_};
    reset = access.address == kCommandPort ? command(data[0]) : this->data(data[0]);
    update_irqs();
  }
  if (reset) control_.request_stop(Outcome{Outcome::Kind::Reset, 0, "the guest reset the machine through the i8042"});
}

bool I8042::command(uint8_t value) {
  last_write_was_command_ = true;
  pending_command_ = 0;
  if (value >= 0x20 && value <= 0x3f) {  // read controller RAM; byte 0 is the configuration
    push(value == 0x20 ? configuration_ : 0);
    return false;
  }
  if ((value >= 0x60 && value <= 0x7f) || value == 0xd1 || value == 0xd2 || value == 0xd3 || value == 0xd4) {
    pending_command_ = value;
    return false;
  }
  if (value >= 0xf0) return (value & 1) == 0;  // pulse output lines; bit 0 is the reset line
  switch (value) {
    case 0xa7: configuration_ |= kAuxDisabled; return false;
    case 0xa8: configuration_ &= static_cast<uint8_t>(~kAuxDisabled); return false;
    case 0xa9:                                  // aux interface test: 0 is "no error"
    case 0xab: push(0x00); return false;        // keyboard interface test
    case 0xaa: push(0x55); return false;        // controller self-test passed
    case 0xad: configuration_ |= kKeyboardDisabled; return false;
    case 0xae: configuration_ &= static_cast<uint8_t>(~kKeyboardDisabled); return false;
    case 0xc0: push(0x00); return false;        // input port
    case 0xd0: push(output_port_); return false;
    default:
      EMBER_GUEST_WARNING("i8042: unknown controller command " + hex(value) + " ignored");
      return false;
  }
}

bool I8042::data(uint8_t value) {
  last_write_was_command_ = false;
  const uint8_t command = pending_command_;
  pending_command_ = 0;
  switch (command) {
    case 0:  // for the keyboard, which is not there
      push(kNoDevice, false, true);
      return false;
    case 0xd1:
      output_port_ = value;
      return (value & 1) == 0;  // the reset line driven low
    case 0xd2: push(value); return false;
    case 0xd3: push(value, true); return false;
    case 0xd4: push(kNoDevice, true, true); return false;  // for the aux device, which is not there
    default:
      if (command == 0x60) configuration_ = value;  // 0x61-0x7f write the rest of the RAM, which nothing reads
      return false;
  }
}

void I8042::push(uint8_t byte, bool aux, bool timeout) {
  if (output_.size() >= kOutputQueueLimit) return;  // a guest that never reads cannot grow it
  output_.push_back({byte, aux, timeout});
}

void I8042::update_irqs() {
  const bool full = !output_.empty();
  keyboard_irq_.set_level(full && !output_.front().aux && (configuration_ & kKeyboardInterrupt));
  aux_irq_.set_level(full && output_.front().aux && (configuration_ & kAuxInterrupt));
}

}  // namespace ember

namespace ember {

void I8042::save(snapshot::SectionWriter& out) {
  std::lock_guard lock{mutex_};
  out.u8(configuration_).u8(output_port_).u8(pending_command_).boolean(last_write_was_command_).u32(static_cast<uint32_t>(output_.size()));
  for (const Output& byte : output_) out.u8(byte.byte).boolean(byte.aux).boolean(byte.timeout);
}

Result<void> I8042::restore(snapshot::SectionReader& in) {
  const uint8_t configuration = in.u8(), output_port = in.u8(), pending_command = in.u8();
  const bool last_write_was_command = in.boolean();
  const uint32_t queued = in.u32();
  std::deque<Output> output;
  if (queued > kOutputQueueLimit) in.refuse("has more queued output than the controller holds");
  for (uint32_t i = 0; i < queued && i < kOutputQueueLimit; ++i) {
    Output byte{};
    byte.byte = in.u8();
    byte.aux = in.boolean();
    byte.timeout = in.boolean();
    output.push_back(byte);
  }
  if ((output_port & 1) == 0) in.refuse("holds the CPU in reset (output port bit 0 low)");
  if (auto done = in.finish(); !done) return done;
  std::lock_guard lock{mutex_};
  configuration_ = configuration, output_port_ = output_port, pending_command_ = pending_command;
  last_write_was_command_ = last_write_was_command;
  output_ = std::move(output);
  update_irqs();
  return {};
}

}  // namespace ember
