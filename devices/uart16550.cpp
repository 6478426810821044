#include "devices/uart16550.h"

#include "base/log.h"

namespace ember {
namespace {

// Register offsets (PC16550D Table II).
constexpr uint64_t kData = 0, kInterruptEnable = 1, kInterruptId = 2, kLineControl = 3, kModemControl = 4,
                   kLineStatus = 5, kModemStatus = 6, kScratch = 7;

constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kIerReceived = 0x01, kIerTransmitEmpty = 0x02, kIerLineStatus = 0x04;
constexpr uint8_t kIirNone = 0x01, kIirLineStatus = 0x06, kIirReceived = 0x04, kIirTransmitEmpty = 0x02;
constexpr uint8_t kIirFifoEnabled = 0xc0;
constexpr uint8_t kLsrDataReady = 0x01, kLsrOverrun = 0x02, kLsrThrEmpty = 0x20, kLsrTransmitterEmpty = 0x40;
constexpr uint8_t kMcrDtr = 0x01, kMcrRts = 0x02, kMcrOut1 = 0x04, kMcrOut2 = 0x08, kMcrLoop = 0x10;
constexpr uint8_t kMsrCts = 0x10, kMsrDsr = 0x20, kMsrRi = 0x40, kMsrDcd = 0x80;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearReceive = 0x02;

}  // namespace

void Uart16550::read(const Access& access, std::span<uint8_t> data) {
  // Byte registers only: wider or out-of-range accesses read as zero.
  if (data.size() != 1 || access.offset >= kRegisterCount) {
    EMBER_GUEST_WARNING("uart16550: ignoring " + std::to_string(data.size()) + "-byte read at offset " + std::to_string(access.offset));
    return;
  }
  std::lock_guard lock{mutex_};
  data[0] = read_register(access.offset);
  update_interrupt();
}

void Uart16550::write(const Access& access, std::span<const uint8_t> data) {
  if (data.size() != 1 || access.offset >= kRegisterCount) {
    EMBER_GUEST_WARNING("uart16550: ignoring " + std::to_string(data.size()) + "-byte write at offset " + std::to_string(access.offset));
    return;
  }
  std::lock_guard lock{mutex_};
  write_register(access.offset, data[0]);
  update_interrupt();
}

size_t Uart16550::receive(std::span<const uint8_t> bytes) {
  std::lock_guard lock{mutex_};
  const size_t accepted = std::min(bytes.size(), kReceiveCapacity - receive_buffer_.size());
  receive_buffer_.insert(receive_buffer_.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(accepted));
  update_interrupt();
  return accepted;
}

uint8_t Uart16550::read_register(uint64_t offset) {
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (offset) {
    case kData:
      if (dlab) return divisor_low_;
      if (receive_buffer_.empty()) return 0;
      {
        const uint8_t byte = receive_buffer_.front();
        receive_buffer_.pop_front();
        return byte;
      }
    case kInterruptEnable:
      return dlab ? divisor_high_ : ier_;
    case kInterruptId: {
      const uint8_t id = interrupt_identification();
      // Reading IIR while it reports THR-empty clears that source (PC16550D, IIR).
      if ((id & 0x0f) == kIirTransmitEmpty) thr_empty_interrupt_ = false;
      return static_cast<uint8_t>(id | ((fcr_ & kFcrEnable) ? kIirFifoEnabled : 0));
    }
    case kLineControl:
      return lcr_;
    case kModemControl:
      return mcr_;
    case kLineStatus: {
      uint8_t status = kLsrThrEmpty | kLsrTransmitterEmpty;  // ember transmits instantly
      if (!receive_buffer_.empty()) status |= kLsrDataReady;
      if (overrun_) status |= kLsrOverrun;
      overrun_ = false;  // cleared by reading LSR
      return status;
    }
    case kModemStatus:
      return modem_status();
    case kScratch:
      return scr_;
    default:
      return 0;
  }
}

void Uart16550::write_register(uint64_t offset, uint8_t value) {
  const bool dlab = (lcr_ & kLcrDlab) != 0;
  switch (offset) {
    case kData:
      if (dlab) {
        divisor_low_ = value;
      } else {
        transmit(value);
        thr_empty_interrupt_ = true;  // the THR is empty again at once
      }
      break;
    case kInterruptEnable:
      if (dlab) {
        divisor_high_ = value;
      } else {
        // Enabling the THRE interrupt while THR is empty raises it at once.
        if ((value & kIerTransmitEmpty) && !(ier_ & kIerTransmitEmpty)) thr_empty_interrupt_ = true;
        ier_ = value & 0x0f;
      }
      break;
    case kInterruptId:  // FCR on write
      fcr_ = value & (kFcrEnable | 0xc0);
      if (value & kFcrClearReceive) receive_buffer_.clear();
      break;
    case kLineControl:
      lcr_ = value;
      break;
    case kModemControl:
      mcr_ = value & 0x1f;
      break;
    case kScratch:
      scr_ = value;
      break;
    default:  // LSR and MSR are read-only
      break;
  }
}

void Uart16550::transmit(uint8_t byte) {
  if (mcr_ & kMcrLoop) {
    // Loopback: the transmitter feeds the receiver (PC16550D, MCR bit 4).
    if (receive_buffer_.size() < kReceiveCapacity) receive_buffer_.push_back(byte);
    else overrun_ = true;
    return;
  }
  output_.write(std::span{&byte, 1});
}

uint8_t Uart16550::modem_status() const {
  if (mcr_ & kMcrLoop) {
    // In loopback the modem outputs drive the inputs: RTS->CTS, DTR->DSR,
    // OUT1->RI, OUT2->DCD. Linux's 8250 probe checks exactly this.
    uint8_t status = 0;
    if (mcr_ & kMcrRts) status |= kMsrCts;
    if (mcr_ & kMcrDtr) status |= kMsrDsr;
    if (mcr_ & kMcrOut1) status |= kMsrRi;
    if (mcr_ & kMcrOut2) status |= kMsrDcd;
    return status;
  }
  return kMsrDcd | kMsrDsr | kMsrCts;  // a terminal is always attached
}

uint8_t Uart16550::interrupt_identification() const {
  // Priority order: line status, received data, THR empty (PC16550D Table IV).
  if ((ier_ & kIerLineStatus) && overrun_) return kIirLineStatus;
  if ((ier_ & kIerReceived) && !receive_buffer_.empty()) return kIirReceived;
  if ((ier_ & kIerTransmitEmpty) && thr_empty_interrupt_) return kIirTransmitEmpty;
  return kIirNone;
}

void Uart16550::update_interrupt() { irq_.set_level((interrupt_identification() & kIirNone) == 0); }

}  // namespace ember

namespace ember {

void Uart16550::save(snapshot::SectionWriter& out) {
  std::lock_guard lock{mutex_};
  const std::vector<uint8_t> received(receive_buffer_.begin(), receive_buffer_.end());
  out.bytes(received).u8(ier_).u8(lcr_).u8(mcr_).u8(scr_).u8(fcr_).u8(divisor_low_).u8(divisor_high_).boolean(overrun_)
      .boolean(thr_empty_interrupt_);
}

Result<void> Uart16550::restore(snapshot::SectionReader& in) {
  const auto received = in.bytes(kReceiveCapacity);
  const uint8_t ier = in.u8(), lcr = in.u8(), mcr = in.u8(), scr = in.u8(), fcr = in.u8(), divisor_low = in.u8(),
                divisor_high = in.u8();
  const bool overrun = in.boolean(), thr_empty_interrupt = in.boolean();
  if ((ier & ~0x0f) != 0 || (mcr & ~0x1f) != 0 || (fcr & ~(kFcrEnable | 0xc0)) != 0) {
    in.refuse("has register bits set that no guest can set");
  }
  if (auto done = in.finish(); !done) return done;
  std::lock_guard lock{mutex_};
  receive_buffer_.assign(received.begin(), received.end());
  ier_ = ier, lcr_ = lcr, mcr_ = mcr, scr_ = scr, fcr_ = fcr, divisor_low_ = divisor_low, divisor_high_ = divisor_high;
  overrun_ = overrun, thr_empty_interrupt_ = thr_empty_interrupt;
  update_interrupt();
  return {};
}

}  // namespace ember
