// The least-work KVM exit loop, the "raw" side of ember's comparisons: runs
// a benchmark guest program on a bare exit loop with no devices, no buses
// and no LAPIC, so the guest's own TSC measurements show what ember adds.
//  - tests/guests/exit_cost_bench.c: each `out` to port 0x80 is answered by
//    returning to KVM_RUN at once (bench/exit_cost.sh).
//  - tests/guests/irq_cycle_bench.c: the guest's UART IER write that raises
//    the interrupt marks it pending; the HLT exit injects it with
//    KVM_INTERRUPT (when ready_for_interrupt_injection && if_flag, as
//    measured on the kvm_pvm development host); IIR reads as "THR empty",
//    EOI and other MMIO writes are ignored (bench/interrupt_cycle.sh).
// COM1 output goes to stdout; a write to the exit port ends the run.
//
//   build/bench/raw_exit_loop build/guests/PROGRAM.elf
#include <cstdio>
#include <cstring>
#include <string>

#include "base/file.h"
#include "boot/boot_cpu.h"
#include "boot/kernel_loader.h"
#include "kvm/kvm.h"
#include "kvm/vm.h"
#include "memory/guest_memory.h"
#include "vcpu/cpuid_profile.h"

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "raw_exit_loop: %s\n", message.c_str());
  return 1;
}

constexpr uint16_t kCom1 = 0x3f8, kExitPort = 0xf4;
constexpr uint8_t kVector = 0x44;  // what the guest programs into the IOAPIC

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) return fail("usage: raw_exit_loop GUEST.elf");
  constexpr uint64_t kRam = 64 << 20;
  auto image = ember::read_whole_file(argv[1], "guest", kRam);
  if (!image) return fail(image.error().message);
  auto memory = ember::GuestMemory::create(ember::ram_regions_for(kRam));
  if (!memory) return fail(memory.error().message);
  auto entry = ember::boot::load_kernel(*memory, {*image, {}, ""});
  if (!entry) return fail(entry.error().message);
  if (auto tables = ember::boot::write_boot_tables(*memory, entry->mode); !tables) return fail(tables.error().message);

  auto kvm = ember::kvm::Kvm::open();
  if (!kvm) return fail(kvm.error().message);
  auto vm = ember::kvm::Vm::create(*kvm);
  if (!vm) return fail(vm.error().message);
  if (auto tss = vm->set_tss_address(0xfffbd000); !tss) return fail(tss.error().message);
  const auto& region = memory->regions().front();
  if (auto mapped = vm->map_memory(0, 0, region.size, region.host); !mapped) return fail(mapped.error().message);
  auto vcpu = vm->create_vcpu(0);
  if (!vcpu) return fail(vcpu.error().message);
  auto cpuid = kvm->supported_cpuid();
  if (!cpuid) return fail(cpuid.error().message);
  if (auto set = vcpu->set_cpuid(ember::cpuid_for_vcpu(*cpuid, 0, 1)); !set) return fail(set.error().message);
  if (auto regs = ember::boot::set_entry_registers(*vcpu, *entry); !regs) return fail(regs.error().message);

  kvm_run& run = *vcpu->run_state();
  bool pending = false;
  while (true) {
    if (pending && run.ready_for_interrupt_injection && run.if_flag) {
      if (auto injected = vcpu->interrupt(kVector); !injected) return fail(injected.error().message);
      pending = false;
    }
    run.request_interrupt_window = pending ? 1 : 0;
    if (auto result = vcpu->run(); !result) return fail(result.error().message);
    switch (run.exit_reason) {
      case KVM_EXIT_IO: {
        auto* data = reinterpret_cast<uint8_t*>(&run) + run.io.data_offset;
        if (run.io.direction == KVM_EXIT_IO_OUT) {
          if (run.io.port == kExitPort) return data[0];
          if (run.io.port == kCom1) std::fputc(data[0], stdout);
          if (run.io.port == kCom1 + 1 && (data[0] & 0x02)) pending = true;  // IER: THR-empty interrupt on
        } else {
          std::memset(data, 0, run.io.size * run.io.count);
          if (run.io.port == kCom1 + 5) data[0] = 0x60;  // LSR: transmitter empty
          if (run.io.port == kCom1 + 2) data[0] = 0x02;  // IIR: THR empty
        }
        break;
      }
      case KVM_EXIT_MMIO:
        if (!run.mmio.is_write) std::memset(run.mmio.data, 0, sizeof run.mmio.data);
        break;
      case KVM_EXIT_HLT:
      case KVM_EXIT_IRQ_WINDOW_OPEN:
        break;
      default:
        return fail("unexpected exit reason " + std::to_string(run.exit_reason));
    }
  }
}
