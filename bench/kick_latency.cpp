// Kick-to-exit latency: from another thread's kick (the kick signal, as
// VcpuRunner::kick sends it) to KVM_RUN returning on the VCPU thread while
// the guest spins in `jmp $`. Prints the median and 99th percentile.
//
//   build/bench/kick_latency [ROUNDS]
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "kvm/kvm.h"
#include "kvm/vm.h"
#include "memory/guest_memory.h"
#include "vcpu/kick_signal.h"

namespace {

int fail(const std::string& message) {
  std::fprintf(stderr, "kick_latency: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  const int rounds = argc > 1 ? std::atoi(argv[1]) : 2000;
  auto kvm = ember::kvm::Kvm::open();
  if (!kvm) return fail(kvm.error().message);
  auto vm = ember::kvm::Vm::create(*kvm);
  if (!vm) return fail(vm.error().message);
  if (auto tss = vm->set_tss_address(0xfffbd000); !tss) return fail(tss.error().message);
  auto memory = ember::GuestMemory::create({{0, 1 << 20}});
  if (!memory) return fail(memory.error().message);
  const auto& region = memory->regions().front();
  if (auto mapped = vm->map_memory(0, 0, region.size, region.host); !mapped) return fail(mapped.error().message);
  const uint8_t spin[] = {0xeb, 0xfe};  // jmp $
  memory->write(0x1000, spin);

  auto vcpu = vm->create_vcpu(0);
  if (!vcpu) return fail(vcpu.error().message);
  auto sregs = vcpu->get_sregs();
  sregs->cs.base = 0;
  sregs->cs.selector = 0;
  if (auto set = vcpu->set_sregs(*sregs); !set) return fail(set.error().message);
  kvm_regs regs{};
  regs.rip = 0x1000;
  regs.rflags = 2;
  if (auto set = vcpu->set_regs(regs); !set) return fail(set.error().message);

  ember::install_kick_handler();
  std::atomic<uint64_t> kicked_at{0};
  std::atomic<bool> running{false}, done{false};
  std::vector<uint64_t> latencies;
  latencies.reserve(static_cast<size_t>(rounds));

  std::thread vcpu_thread{[&] {
    kvm_run* state = vcpu->run_state();
    ember::bind_kick_target(state);
    while (!done.load()) {
      state->immediate_exit = 0;
      running.store(true);
      const auto result = vcpu->run();
      const uint64_t returned = ember::monotonic_ns();
      running.store(false);
      if (result && *result == ember::kvm::RunResult::Interrupted && kicked_at.load() != 0) {
        latencies.push_back(returned - kicked_at.exchange(0));
      }
    }
  }};

  const pthread_t target = vcpu_thread.native_handle();
  for (int i = 0; i < rounds; ++i) {
    while (!running.load()) std::this_thread::yield();
    std::this_thread::sleep_for(std::chrono::microseconds(200));  // let the guest settle in KVM_RUN
    kicked_at.store(ember::monotonic_ns());
    pthread_kill(target, ember::kick_signal());
    while (kicked_at.load() != 0) std::this_thread::yield();
  }
  done.store(true);
  pthread_kill(target, ember::kick_signal());
  vcpu_thread.join();

  std::sort(latencies.begin(), latencies.end());
  if (latencies.empty()) return fail("no kick was observed");
  const auto at = [&](double q) { return latencies[static_cast<size_t>(q * static_cast<double>(latencies.size() - 1))]; };
  std::printf("kick-to-exit over %zu kicks: median %.1f us, p99 %.1f us\n", latencies.size(), static_cast<double>(at(0.5)) / 1000.0,
              static_cast<double>(at(0.99)) / 1000.0);
  return 0;
}
