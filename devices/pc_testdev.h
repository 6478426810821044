// QEMU's pc-testdev (QEMU hw/misc/pc-testdev.c): the test surface that
// kvm-unit-tests and other conformance programs expect on a PC machine.
// Off unless `--test-device` asks for it (README.md, "Guest programs built
// for QEMU"): it lets the guest drive any interrupt line and adds 64 KiB of
// MMIO, which no production guest needs.
//
//   ports 0xe0-0xe3      a 32-bit scratch register, at any width
//   ports 0xe4-0xe7      "flush page": a 32-bit write of a guest-physical
//                        address. QEMU mprotects the host page to make KVM
//                        drop its mapping; ember accepts the write and does
//                        nothing, because a page made inaccessible even for a
//                        moment would fault ember's own device threads.
//   ports 0xe8-0xeb      the same scratch register, byte by byte
//   ports 0x2000-0x2017  a byte written to 0x2000 + N sets interrupt line N
//                        to (byte != 0): lines 0-15 are ISA IRQs (8259 and
//                        IOAPIC, IRQ 0 on pin 2 as the MP table says), lines
//                        16-23 IOAPIC pins only. A line shared with a device
//                        (the UART's 4, the PIT's 0) takes the last level set.
//   MMIO 0xff000000      64 KiB of scratch memory
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "bus/device.h"
#include "devices/ioapic.h"
#include "devices/pic8259.h"
#include "irq/interrupt_line.h"
#include "platform/address_map.h"

namespace ember {

class PcTestdev final {
 public:
  static constexpr uint16_t kPortBase = platform::kPcTestdevPort, kPortCount = 12;
  static constexpr uint16_t kIrqLineBase = platform::kPcTestdevIrqPort, kIrqLineCount = 24;
  static constexpr uint64_t kIomemBase = platform::kPcTestdevIomemBase, kIomemSize = platform::kPcTestdevIomemSize;

  PcTestdev(Pic8259Pair& pic, Ioapic& ioapic);

  Device& ports() { return ports_; }
  Device& irq_lines() { return irq_lines_; }
  Device& iomem() { return iomem_; }

 private:
  class Ports final : public Device {
   public:
    std::string_view name() const override { return "pc-testdev"; }
    void read(const Access& access, std::span<uint8_t> data) override;
    void write(const Access& access, std::span<const uint8_t> data) override;

   private:
    std::mutex mutex_;
    uint32_t   scratch_ = 0;
  };
  class IrqLines final : public Device {
   public:
    explicit IrqLines(std::array<std::unique_ptr<InterruptLine>, kIrqLineCount> lines) : lines_{std::move(lines)} {}
    std::string_view name() const override { return "pc-testdev-irq-line"; }
    void read(const Access&, std::span<uint8_t>) override {}  // write-only: reads return 0
    void write(const Access& access, std::span<const uint8_t> data) override;

   private:
    std::array<std::unique_ptr<InterruptLine>, kIrqLineCount> lines_;
  };
  class Iomem final : public Device {
   public:
    std::string_view name() const override { return "pc-testdev-iomem"; }
    void read(const Access& access, std::span<uint8_t> data) override;
    void write(const Access& access, std::span<const uint8_t> data) override;

   private:
    std::mutex           mutex_;
    std::vector<uint8_t> bytes_ = std::vector<uint8_t>(kIomemSize);
  };

  Ports    ports_;
  IrqLines irq_lines_;
  Iomem    iomem_;
};

}  // namespace ember
