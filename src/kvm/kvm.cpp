#include "kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "kvm/flexible_array_ioctls.h"
#include "kvm/ioctl_error.h"

namespace ember::kvm {
namespace {

struct RequiredCapability {
  long        capability;
  const char* name;
  const char* why;
};

// Everything ember relies on; checked once at start so a host that lacks one
// gets a message naming it instead of a failure deep inside the run.
constexpr RequiredCapability kRequired[] = {
    {KVM_CAP_USER_MEMORY,    "KVM_CAP_USER_MEMORY",    "guest RAM is mapped from ember's memory"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT", "VCPUs are kicked out of KVM_RUN without a race"},
    {KVM_CAP_EXT_CPUID,      "KVM_CAP_EXT_CPUID",      "the guest CPUID is built from KVM_GET_SUPPORTED_CPUID"},
    {KVM_CAP_SET_TSS_ADDR,   "KVM_CAP_SET_TSS_ADDR",   "VMX needs a TSS for real-mode guest code"},
};

constexpr int kExpectedApiVersion = 12;  // api.rst 4.1: "Applications should refuse to run if ... returns a value other than 12"

}  // namespace

KvmResult<Kvm> Kvm::open(const std::string& path) {
  FileDescriptor fd{::open(path.c_str(), O_RDWR | O_CLOEXEC)};
  if (!fd.valid()) {
    const int err = errno;
    if (err == ENOENT) return KvmError{"open", err, path + " does not exist: this host has no KVM (load kvm_intel or kvm_amd)"};
    if (err == EACCES || err == EPERM) return KvmError{"open", err, path + " is not accessible to this user: " + std::strerror(err) + " (join the 'kvm' group or run as root)"};
    return KvmError{"open", err, "cannot open " + path + ": " + std::strerror(err)};
  }
  const int version = ::ioctl(fd.get(), KVM_GET_API_VERSION, 0);
  if (version < 0) return ioctl_error("KVM_GET_API_VERSION");
  if (version != kExpectedApiVersion) {
    return KvmError{"KVM_GET_API_VERSION", 0, path + " speaks KVM API version " + std::to_string(version) + ", ember needs " +
                 std::to_string(kExpectedApiVersion)};
  }
  Kvm kvm{std::move(fd)};
  if (auto capable = require_capabilities([&kvm](long capability) { return kvm.check_extension(capability); }); !capable) {
    return capable.error();
  }
  return kvm;
}

KvmStatus require_capabilities(const std::function<int(long)>& check) {
  for (const auto& required : kRequired) {
    if (check(required.capability) <= 0) {
      return KvmError{"KVM_CHECK_EXTENSION", 0, std::string("KVM on this host lacks ") + required.name + ", which ember needs because " + required.why};
    }
  }
  return {};
}

int Kvm::check_extension(long capability) const {
  const int result = ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, capability);
  return result < 0 ? 0 : result;
}

KvmResult<int> Kvm::vcpu_mmap_size() const {
  const int size = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
  if (size < 0) return ioctl_error("KVM_GET_VCPU_MMAP_SIZE");
  if (static_cast<size_t>(size) < sizeof(kvm_run)) return KvmError{"KVM_GET_VCPU_MMAP_SIZE", 0, "KVM_GET_VCPU_MMAP_SIZE returned a size smaller than struct kvm_run"};
  return size;
}

int Kvm::coalesced_pio_ring_page() const {
  if (check_extension(KVM_CAP_COALESCED_PIO) <= 0) return 0;
  return check_extension(KVM_CAP_COALESCED_MMIO);
}

bool Kvm::supports_msr_exits() const {
  return check_extension(KVM_CAP_X86_USER_SPACE_MSR) > 0 && check_extension(KVM_CAP_X86_MSR_FILTER) > 0;
}

int Kvm::max_vcpus() const {
  // api.rst 4.7: KVM_CAP_MAX_VCPUS is the hard limit; without it, NR_VCPUS;
  // without that, 4.
  if (const int max = check_extension(KVM_CAP_MAX_VCPUS); max > 0) return max;
  if (const int nr = check_extension(KVM_CAP_NR_VCPUS); nr > 0) return nr;
  return 4;
}

KvmResult<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
  // The entry count is not known in advance: grow until KVM stops saying E2BIG.
  for (uint32_t capacity = 128; capacity <= 4096; capacity *= 2) {
    const size_t bytes = sizeof(CpuidHeader) + capacity * sizeof(kvm_cpuid_entry2);
    auto storage = std::make_unique<uint64_t[]>(bytes / sizeof(uint64_t) + 1);
    auto* header = reinterpret_cast<CpuidHeader*>(storage.get());
    header->nent = capacity;
    if (::ioctl(fd_.get(), kGetSupportedCpuid, header) == 0) {
      const auto* entries = reinterpret_cast<const kvm_cpuid_entry2*>(header + 1);
      return std::vector<kvm_cpuid_entry2>(entries, entries + std::min(header->nent, capacity));
    }
    if (errno != E2BIG) return ioctl_error("KVM_GET_SUPPORTED_CPUID");
  }
  return KvmError{"KVM_GET_SUPPORTED_CPUID", 0, "KVM_GET_SUPPORTED_CPUID reports more than 4096 entries"};
}

KvmResult<std::vector<uint32_t>> Kvm::msr_index_list() const {
  for (uint32_t capacity = 256; capacity <= 16384; capacity *= 2) {
    std::vector<uint32_t> storage(1 + capacity);
    auto* header = reinterpret_cast<MsrListHeader*>(storage.data());
    header->nmsrs = capacity;
    if (::ioctl(fd_.get(), kGetMsrIndexList, header) == 0) {
      return std::vector<uint32_t>(storage.begin() + 1, storage.begin() + 1 + std::min(header->nmsrs, capacity));
    }
    if (errno != E2BIG) return ioctl_error("KVM_GET_MSR_INDEX_LIST");
  }
  return KvmError{"KVM_GET_MSR_INDEX_LIST", 0, "KVM_GET_MSR_INDEX_LIST reports more than 16384 MSRs"};
}

}  // namespace ember::kvm
