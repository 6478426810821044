#include "kvm/vm.h"

#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cstring>
#include <vector>

#include "kvm/ioctl_error.h"

namespace ember::kvm {

KvmResult<Vm> Vm::create(const Kvm& kvm) {
  auto mmap_size = kvm.vcpu_mmap_size();
  if (!mmap_size) return mmap_size.error();
  FileDescriptor fd{::ioctl(kvm.fd(), KVM_CREATE_VM, 0)};
  if (!fd.valid()) return ioctl_error("KVM_CREATE_VM");
  return Vm{std::move(fd), *mmap_size};
}

namespace {

kvm_ioeventfd ioeventfd_request(uint64_t address, uint32_t length, uint64_t value, int eventfd, uint32_t flags) {
  kvm_ioeventfd request{};
  request.datamatch = value;
  request.addr = address;
  request.len = length;
  request.fd = eventfd;
  request.flags = KVM_IOEVENTFD_FLAG_DATAMATCH | flags;
  return request;
}

}  // namespace

KvmStatus Vm::add_ioeventfd(uint64_t address, uint32_t length, uint64_t value, int eventfd) {
  auto request = ioeventfd_request(address, length, value, eventfd, 0);
  if (::ioctl(fd_.get(), KVM_IOEVENTFD, &request) != 0) return ioctl_error("KVM_IOEVENTFD");
  return {};
}

KvmStatus Vm::remove_ioeventfd(uint64_t address, uint32_t length, uint64_t value, int eventfd) {
  auto request = ioeventfd_request(address, length, value, eventfd, KVM_IOEVENTFD_FLAG_DEASSIGN);
  if (::ioctl(fd_.get(), KVM_IOEVENTFD, &request) != 0) return ioctl_error("KVM_IOEVENTFD (deassign)");
  return {};
}

KvmStatus Vm::coalesce_port_writes(uint16_t port, uint32_t length) {
  kvm_coalesced_mmio_zone zone{};
  zone.addr = port;
  zone.size = length;
  zone.pio = 1;
  if (::ioctl(fd_.get(), KVM_REGISTER_COALESCED_MMIO, &zone) != 0) return ioctl_error("KVM_REGISTER_COALESCED_MMIO (port I/O)");
  return {};
}

KvmStatus Vm::set_tss_address(uint64_t address) {
  if (::ioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(address)) != 0) return ioctl_error("KVM_SET_TSS_ADDR");
  return {};
}

KvmStatus Vm::set_identity_map_address(uint64_t address) {
  if (::ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &address) != 0) return ioctl_error("KVM_SET_IDENTITY_MAP_ADDR");
  return {};
}

KvmStatus Vm::map_memory(uint32_t slot, uint64_t guest_address, uint64_t size, void* host) {
  const kvm_userspace_memory_region region{
      .slot            = slot,
      .flags           = 0,
      .guest_phys_addr = guest_address,
      .memory_size     = size,
      .userspace_addr  = reinterpret_cast<uint64_t>(host),
  };
  if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) != 0) return ioctl_error("KVM_SET_USER_MEMORY_REGION");
  return {};
}

KvmStatus Vm::trap_msrs(std::span<const MsrRange> ranges) {
  kvm_enable_cap enable{};
  enable.cap = KVM_CAP_X86_USER_SPACE_MSR;
  enable.args[0] = KVM_MSR_EXIT_REASON_FILTER | KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN;
  if (::ioctl(fd_.get(), KVM_ENABLE_CAP, &enable) != 0) return ioctl_error("KVM_ENABLE_CAP(KVM_CAP_X86_USER_SPACE_MSR)");

  if (ranges.size() > KVM_MSR_FILTER_MAX_RANGES) return KvmError{"KVM_X86_SET_MSR_FILTER", 0, "too many MSR filter ranges"};
  // A range's bitmap holds one bit per MSR; 0 denies KVM the access, which
  // then exits to userspace. All-zero bitmaps: every MSR in range is ours.
  std::vector<std::vector<uint8_t>> bitmaps;
  kvm_msr_filter filter{};
  filter.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
  for (size_t i = 0; i < ranges.size(); ++i) {
    bitmaps.emplace_back((ranges[i].count + 7) / 8, 0);
    filter.ranges[i].flags = KVM_MSR_FILTER_READ | KVM_MSR_FILTER_WRITE;
    filter.ranges[i].nmsrs = ranges[i].count;
    filter.ranges[i].base = ranges[i].base;
    filter.ranges[i].bitmap = bitmaps.back().data();
  }
  if (::ioctl(fd_.get(), KVM_X86_SET_MSR_FILTER, &filter) != 0) return ioctl_error("KVM_X86_SET_MSR_FILTER");
  return {};
}

KvmResult<Vcpu> Vm::create_vcpu(uint32_t index) const {
  FileDescriptor fd{::ioctl(fd_.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(index))};
  if (!fd.valid()) return ioctl_error("KVM_CREATE_VCPU");
  void* run = ::mmap(nullptr, static_cast<size_t>(vcpu_mmap_size_), PROT_READ | PROT_WRITE, MAP_SHARED, fd.get(), 0);
  if (run == MAP_FAILED) {
    const int err = errno;
    return KvmError{"mmap", err, "mmap of the VCPU's kvm_run area failed: " + std::string(std::strerror(err))};
  }
  return Vcpu{std::move(fd), static_cast<kvm_run*>(run), static_cast<size_t>(vcpu_mmap_size_)};
}

KvmResult<uint64_t> Vm::clock() const {
  kvm_clock_data data{};
  if (::ioctl(fd_.get(), KVM_GET_CLOCK, &data) != 0) return ioctl_error("KVM_GET_CLOCK");
  return static_cast<uint64_t>(data.clock);
}

KvmStatus Vm::set_clock(uint64_t nanoseconds) {
  kvm_clock_data data{};
  data.clock = nanoseconds;
  if (::ioctl(fd_.get(), KVM_SET_CLOCK, &data) != 0) return ioctl_error("KVM_SET_CLOCK");
  return {};
}

}  // namespace ember::kvm
