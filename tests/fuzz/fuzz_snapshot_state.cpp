// libFuzzer target: a snapshot state file (snapshot/state_format.h), which
// `ember run --restore DIR` reads from a directory anyone could have
// written. The input is parsed; every section it holds is then read field by
// field in each of the ways a device reads, until the reader fails. Nothing
// may crash or read past what arrived.
#include <cstdint>
#include <vector>

#include "snapshot/state_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = ember::snapshot::StateFile::parse(std::vector<uint8_t>(data, data + size));
  if (!file) return 0;
  for (const char* name : {"machine", "vcpu0", "lapic0", "ioapic", "pic", "pit", "uart", "rtc", "virtio-mmio0"}) {
    auto section = file->section(name);
    if (!section) continue;
    for (int round = 0; section->ok() && round < 4096; ++round) {
      switch (round % 6) {
        case 0: (void)section->u8(); break;
        case 1: (void)section->u16(); break;
        case 2: (void)section->u32(); break;
        case 3: (void)section->u64(); break;
        case 4: (void)section->boolean(); break;
        case 5: (void)section->bytes(1 << 16); break;
      }
    }
    (void)section->finish();
  }
  return 0;
}
