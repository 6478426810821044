// The signal that kicks a VCPU thread out of KVM_RUN. Its handler sets
// immediate_exit in the kvm_run of the thread it lands on, the race-free
// pattern of api.rst (KVM_CAP_IMMEDIATE_EXIT): a kick before KVM_RUN makes
// it return EINTR at once, a kick during it interrupts it.
#pragma once

#include <linux/kvm.h>
#include <pthread.h>

namespace ember {

int kick_signal();

// Installs the handler; once per process, before any kick.
void install_kick_handler();

// Names the kvm_run the handler sets immediate_exit in, for the calling
// thread (nullptr: none).
void bind_kick_target(kvm_run* run);

// Whether `run` is the calling thread's kick target: the kick comes from
// the VCPU's own thread.
bool is_kick_target(const kvm_run* run);

}  // namespace ember
