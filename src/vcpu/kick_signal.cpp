#include "vcpu/kick_signal.h"

#include <signal.h>

namespace ember {
namespace {

// Static TLS: safe to read from a signal handler.
thread_local kvm_run* tls_run = nullptr;

void on_kick(int) {
  if (tls_run != nullptr) tls_run->immediate_exit = 1;
}

}  // namespace

int kick_signal() { return SIGRTMIN; }

void install_kick_handler() {
  struct sigaction action {};
  action.sa_handler = on_kick;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;  // no SA_RESTART: KVM_RUN must return EINTR
  sigaction(kick_signal(), &action, nullptr);
}

void bind_kick_target(kvm_run* run) { tls_run = run; }

bool is_kick_target(const kvm_run* run) { return run != nullptr && tls_run == run; }

}  // namespace ember
