// libFuzzer target: the guest-visible register files (16550 UART, LAPIC
// registers and MSRs with its timer, IOAPIC, the 8254 PIT with port 0x61,
// the CMOS RTC, virtio-mmio with virtio-rng behind it, PCI configuration
// mechanism #1 and the BAR window with a virtio-pci rng in slot 1) under
// arbitrary sequences of accesses of any width and offset, including past
// each device's end. Each access is 12 bytes: device and direction, width,
// offset (2), value (8).
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>

#include "console/console_output.h"
#include "devices/acpi_pm.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/ioapic.h"
#include "devices/pit8254.h"
#include "devices/uart16550.h"
#include "irq/interrupt_router.h"
#include "irq/lapic.h"
#include "memory/memory_map.h"
#include "unit/interrupt_fakes.h"
#include "virtio/mmio_transport.h"
#include "virtio/pci_transport.h"
#include "virtio/rng_device.h"

using namespace ember;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const GuestMemory memory = std::move(GuestMemory::create(ram_regions_for(1 << 20)).value());
  InjectionMailbox mailbox;
  ApicAddressing   addressing;
  test::CountingKick kick;
  test::RecordingEoi eoi;
  InterruptRouter  router;
  router.attach({&mailbox, &addressing, &kick});
  // A clock that moves with every access, so timer deadlines pass and periodic
  // timers re-arm while the input runs.
  uint64_t          now = 1000;
  const auto        clock = [&now] { return now; };
  Lapic             lapic{0, router, eoi, addressing, clock, TscClock{[&now] { return now * 3; }, 3'000'000}};
  test::RecordingLine pit_line;
  Pit8254           pit{pit_line, clock};
  SystemControlPort port61{pit, clock};
  test::RecordingLine rtc_line;
  CmosRtc           rtc{rtc_line, [&now] { return int64_t{1'700'000'000} * 1'000'000'000 + static_cast<int64_t>(now) * 1000; }};
  Ioapic            ioapic{router, 1};
  test::RecordingControl control;
  AcpiPm            acpi_pm{control, [&now] { return now; }};
  test::RecordingLine keyboard_line, aux_line;
  I8042             i8042{control, keyboard_line, aux_line};
  NullConsoleOutput console;
  IoapicPin         uart_pin{ioapic, 4}, virtio_pin{ioapic, 16};
  Uart16550         uart{console, uart_pin};
  virtio::RngDevice rng;
  virtio::MmioTransport transport{memory, rng, virtio_pin};
  RouterMsiSender       msi{router};
  virtio::RngDevice     pci_rng;
  PciBus                pci;
  virtio::PciTransport  pci_transport{memory, pci_rng, msi, PciBus::kWindowBase + virtio::PciTransport::kBarSize};
  (void)pci.add(pci_transport);
  // The window listener must hear of every change to what the function
  // decodes, in order: each report starts where the last one ended (the
  // machine moves the queue notifiers by these reports).
  std::optional<PciFunction::Window> heard;
  const auto same = [](const std::optional<PciFunction::Window>& a, const std::optional<PciFunction::Window>& b) {
    return a.has_value() == b.has_value() && (!a || (a->address == b->address && a->size == b->size));
  };
  pci.set_window_listener([&](PciFunction&, std::optional<PciFunction::Window> before, std::optional<PciFunction::Window> after) {
    if (!same(before, heard) || same(before, after)) __builtin_trap();
    heard = after;
  });

  for (size_t at = 0; at + 12 <= size; at += 12) {
    const uint8_t which = (data[at] & 0x7f) % 12;
    const bool write = (data[at] & 0x80) != 0;
    static constexpr size_t kWidths[] = {1, 2, 4, 8};
    const size_t width = kWidths[data[at + 1] & 3];
    uint16_t offset;
    std::memcpy(&offset, data + at + 2, 2);
    uint8_t value[8];
    std::memcpy(value, data + at + 4, 8);
    std::span<uint8_t> bytes{value, width};
    const Access access{offset, offset, 0};
    switch (which) {
      case 0:
        write ? uart.write({offset % 16u, 0, 0}, bytes) : uart.read({offset % 16u, 0, 0}, bytes);
        break;
      case 1: {
        uint32_t word;
        std::memcpy(&word, value, 4);
        if (write) lapic.write_register(offset & 0xff0u, word);
        else (void)lapic.read_register(offset & 0xff0u);
        break;
      }
      case 2:
        write ? ioapic.write(access, bytes) : ioapic.read(access, bytes);
        break;
      case 3:
        write ? transport.write(access, bytes) : transport.read(access, bytes);
        break;
      case 4: {
        const uint64_t port_offset = offset % PciBus::kPortCount;
        const Access port{port_offset, PciBus::kConfigAddressPort + port_offset, 0};
        write ? pci.config_ports().write(port, bytes) : pci.config_ports().read(port, bytes);
        break;
      }
      case 5: {
        const uint64_t address = PciBus::kWindowBase + virtio::PciTransport::kBarSize + offset;
        const Access window{address - PciBus::kWindowBase, address, 0};
        write ? pci.window().write(window, bytes) : pci.window().read(window, bytes);
        break;
      }
      case 6: {  // LAPIC MSRs: APIC base, TSC deadline, the x2APIC range; then its timer
        static constexpr uint32_t kMsrs[] = {Lapic::kApicBaseMsr, Lapic::kTscDeadlineMsr};
        uint64_t value64;
        std::memcpy(&value64, value, 8);
        const uint32_t index = (offset & 0x100) ? Lapic::kX2apicMsrFirst + (offset & 0xff) : kMsrs[offset & 1];
        write ? (void)lapic.write_msr(index, value64) : (void)lapic.read_msr(index);
        lapic.expire_timer(now);
        break;
      }
      case 7: {
        const Access pit_access{offset % Pit8254::kPortCount, Pit8254::kBasePort + offset % Pit8254::kPortCount, 0};
        write ? pit.write(pit_access, bytes) : pit.read(pit_access, bytes);
        (void)pit.next_irq0();
        break;
      }
      case 8: {
        const Access control{0, SystemControlPort::kPort, 0};
        write ? port61.write(control, bytes) : port61.read(control, bytes);
        break;
      }
      case 9: {
        const uint64_t rtc_offset = offset % uint64_t{CmosRtc::kPortCount};
        const Access   rtc_access{rtc_offset, CmosRtc::kIndexPort + rtc_offset, 0};
        write ? rtc.write(rtc_access, bytes) : rtc.read(rtc_access, bytes);
        rtc.update_interrupts();
        break;
      }
      case 10: {  // ACPI PM registers, including accesses that run past their end
        const uint64_t pm_offset = offset % uint64_t{AcpiPm::kPortCount};
        const Access   pm_access{pm_offset, AcpiPm::kBasePort + pm_offset, 0};
        write ? acpi_pm.write(pm_access, bytes) : acpi_pm.read(pm_access, bytes);
        break;
      }
      case 11: {
        const Access i8042_access{0, (offset & 1) ? I8042::kCommandPort : I8042::kDataPort, 0};
        write ? i8042.write(i8042_access, bytes) : i8042.read(i8042_access, bytes);
        break;
      }
    }
    now += uint64_t{data[at + 1]} << 12;  // up to about 1 ms per access
    lapic.expire_timer(now);
  }
  if (!same(heard, pci_transport.decoded_memory())) __builtin_trap();
  return 0;
}
