// An 8254 programmable interval timer (Intel 82C54 datasheet) at ports
// 0x40-0x43: three 16-bit counters at 1.193182 MHz, modes 0-5, counter latch
// and read-back commands. Counts are computed from the time since they were
// loaded, not ticked. Channel 0 drives IRQ 0: a thread of the PIT's own
// pulses the line at each rising edge of channel 0's output (terminal count
// in modes 0 and 4, every period in modes 2 and 3). Channel 2's gate and
// output belong to port 0x61 (SystemControlPort).
//
// VCPU threads and the PIT's thread share the state: one mutex. The IRQ line
// is pulsed with the mutex released, so the lock order is PIT, then nothing.
#pragma once

#include <array>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "bus/device.h"
#include "irq/interrupt_line.h"
#include "platform/address_map.h"
#include "snapshot/state_format.h"

namespace ember {

class Pit8254 final : public Device {
 public:
  using Clock = std::function<uint64_t()>;  // monotonic nanoseconds
  static constexpr uint16_t kBasePort = platform::kPitPort;
  static constexpr uint64_t kPortCount = 4;
  static constexpr uint64_t kFrequencyHz = 1'193'182;

  Pit8254(InterruptLine& irq0, Clock clock);
  ~Pit8254() override;
  // Stops and joins the IRQ 0 thread; idempotent (the destructor calls it too).
  void stop();
  Pit8254(const Pit8254&) = delete;
  Pit8254& operator=(const Pit8254&) = delete;

  std::string_view name() const override { return "pit8254"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

  void set_channel2_gate(bool high);
  bool channel2_gate();
  bool channel2_output();

  // When channel 0 next raises IRQ 0, for tests.
  std::optional<uint64_t> next_irq0();

  // Snapshot state (snapshot/state_format.h, issue 20). restore checks
  // every value and changes nothing when one is wrong.
  void         save(snapshot::SectionWriter& out);
  Result<void> restore(snapshot::SectionReader& in);

 private:
  struct Channel {
    uint8_t  mode = 0;
    uint8_t  access = 3;           // 1 low byte, 2 high byte, 3 low then high
    uint32_t reload = 0x10000;     // the loaded count; 0 means 65536
    bool     loaded = false;       // a count was written since the control word
    uint64_t start = 0;            // when counting (re)started
    bool     gate = true;
    uint64_t frozen_ticks = 0;     // ticks counted before the gate went low
    bool     write_high_next = false;
    uint8_t  pending_low = 0;
    bool     read_high_next = false;
    std::optional<uint16_t> latched_count;
    bool     latched_high_next = false;
    std::optional<uint8_t>  latched_status;
  };

  uint64_t ticks(const Channel& channel, uint64_t now) const;
  uint16_t count(const Channel& channel, uint64_t now) const;
  bool     output(const Channel& channel, uint64_t now) const;
  uint8_t  status(const Channel& channel, uint64_t now) const;
  void     write_control(uint8_t value, uint64_t now);
  void     write_counter(Channel& channel, uint8_t value, uint64_t now);
  uint8_t  read_counter(Channel& channel, uint64_t now);
  void     load(Channel& channel, uint32_t value, uint64_t now);
  void     schedule_irq0(uint64_t now);
  void     irq0_thread();

  InterruptLine& irq0_;
  Clock          clock_;

  std::mutex              mutex_;  // guards everything below
  std::condition_variable changed_;
  std::array<Channel, 3>  channels_{};
  std::optional<uint64_t> next_irq0_;
  bool                    stopping_ = false;
  std::thread             thread_;  // last: starts after the state it uses exists
};

// Port 0x61, "system control port B": channel 2's gate (bit 0) and output
// (bit 5), the speaker enable (bit 1) and the refresh toggle (bit 4) that
// old delay loops poll.
class SystemControlPort final : public Device {
 public:
  static constexpr uint16_t kPort = platform::kPort61;
  SystemControlPort(Pit8254& pit, Pit8254::Clock clock) : pit_{pit}, clock_{std::move(clock)} {}

  std::string_view name() const override { return "system-control-port-b"; }
  void read(const Access& access, std::span<uint8_t> data) override;
  void write(const Access& access, std::span<const uint8_t> data) override;

  // Snapshot state (snapshot/state_format.h, issue 20). restore checks
  // every value and changes nothing when one is wrong.
  void         save(snapshot::SectionWriter& out);
  Result<void> restore(snapshot::SectionReader& in);
 private:
  Pit8254&       pit_;
  Pit8254::Clock clock_;
  std::mutex     mutex_;  // guards speaker_
  bool           speaker_ = false;
};

}  // namespace ember
