// libFuzzer target: a snapshot state file (snapshot/state_format.h), which
// `ember run --restore DIR` reads from a directory anyone could have
// written. The input is parsed as a whole file; then, as raw section bytes,
// it is restored into each device that reads a section (the chips, a LAPIC,
// a PCI function, the machine's configuration; the PCI bus reads the file
// itself), the way Machine::restore_state does.
// Nothing may crash, hang or read past what arrived; a refusal is a clean
// error.
#include <cstdint>
#include <vector>

#include "devices/acpi_pm.h"
#include "devices/cmos_rtc.h"
#include "devices/i8042.h"
#include "devices/ioapic.h"
#include "devices/pic8259.h"
#include "devices/pit8254.h"
#include "devices/pvpanic_pci.h"
#include "devices/uart16550.h"
#include "irq/lapic.h"
#include "machine/snapshot.h"
#include "pci/pci_bus.h"
#include "snapshot/state_format.h"

namespace {

using namespace ember;

struct Line final : InterruptLine {
  void set_level(bool) override {}
};
struct Control final : MachineControl {
  void request_stop(Outcome) override {}
};
struct Discard final : ConsoleOutput {
  void write(std::span<const uint8_t>) override {}
};
struct Eoi final : EoiListener {
  void end_of_interrupt(uint8_t) override {}
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = snapshot::StateFile::parse(std::vector<uint8_t>(data, data + size));
  if (file) {
    for (const char* name : {"machine", "clock", "vcpu0", "ioapic", "pic", "pit", "uart", "rtc", "virtio0", "pci", "pci-slot1"}) {
      auto section = file->section(name);
      for (int round = 0; section && section->ok() && round < 4096; ++round) {
        switch (round % 6) {
          case 0: (void)section->u8(); break;
          case 1: (void)section->u16(); break;
          case 2: (void)section->u32(); break;
          case 3: (void)section->u64(); break;
          case 4: (void)section->boolean(); break;
          case 5: (void)section->bytes(1 << 16); break;
        }
      }
    }
  }
  // The same bytes as one section's fields, into every device.
  const std::span<const uint8_t> fields{data, size};
  static InterruptRouter router;
  static Line line;
  static Control control;
  static Discard output;
  static Eoi eoi;
  static ApicAddressing addressing;
  const auto section = [&] { return snapshot::SectionReader{"fuzzed", fields}; };
  {
    Ioapic ioapic{router, 0};
    auto in = section();
    (void)ioapic.restore(in);
  }
  {
    Pic8259Pair pic;
    auto in = section();
    (void)pic.restore(in);
  }
  {
    Pit8254 pit{line, [] { return uint64_t{1'000'000}; }};
    auto in = section();
    (void)pit.restore(in);
    pit.stop();
  }
  {
    Uart16550 uart{output, line};
    auto in = section();
    (void)uart.restore(in);
  }
  {
    CmosRtc rtc{line, [] { return int64_t{1'700'000'000} * 1'000'000'000; }};
    auto in = section();
    (void)rtc.restore(in);
    rtc.stop();
  }
  {
    I8042 controller{control, line, line};
    auto in = section();
    (void)controller.restore(in);
  }
  {
    AcpiPm pm{control, [] { return uint64_t{0}; }};
    auto in = section();
    (void)pm.restore(in);
  }
  {
    Lapic lapic{0, router, eoi, addressing, [] { return uint64_t{0}; }};
    auto in = section();
    (void)lapic.restore(in);
  }
  {
    PvpanicPci pvpanic{control, 0xe0010000};
    auto in = section();
    (void)pvpanic.restore(in);
  }
  if (file) {
    PciBus bus;  // the bus reads its own sections, "pci" and "pci-slotN"
    PvpanicPci pvpanic{control, PciBus::kWindowBase};
    (void)bus.add(pvpanic);  // slot 1, as on ember's machines
    (void)bus.restore(*file);
  }
  {
    auto in = section();
    (void)load_machine_config(in, MachineConfig{});
  }
  return 0;
}
