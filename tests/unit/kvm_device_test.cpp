// /dev/kvm's host-side checks that need no KVM: a missing device file and a
// missing capability each give one sentence naming what is wrong.
#include <cerrno>

#include <gtest/gtest.h>

#include "kvm/kvm.h"

namespace ember::kvm {
namespace {

TEST(KvmDevice, MissingDeviceFileSaysThereIsNoKvm) {
  const auto kvm = Kvm::open("/nonexistent/kvm");
  ASSERT_FALSE(kvm);
  EXPECT_EQ(kvm.error().call, "open");
  EXPECT_EQ(kvm.error().error_number, ENOENT);
  // The sentence people read.
  EXPECT_EQ(kvm.error().message, "/nonexistent/kvm does not exist: this host has no KVM (load kvm_intel or kvm_amd)");
}

TEST(KvmDevice, AFailedIoctlCarriesItsNameAndErrno) {
  const KvmError error = ioctl_error("KVM_RUN", EINVAL);
  EXPECT_EQ(error.call, "KVM_RUN");
  EXPECT_EQ(error.error_number, EINVAL);
  EXPECT_EQ(error.message, "KVM_RUN failed: Invalid argument (errno 22)");
  const Error plain = error;  // where only the sentence matters
  EXPECT_EQ(plain.message, error.message);
}

TEST(KvmDevice, EveryCapabilityPresentPasses) {
  EXPECT_TRUE(require_capabilities([](long) { return 1; }));
}

TEST(KvmDevice, AbsentCapabilityIsNamedWithTheReason) {
  const auto status = require_capabilities([](long capability) { return capability == KVM_CAP_IMMEDIATE_EXIT ? 0 : 1; });
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().message,
            "KVM on this host lacks KVM_CAP_IMMEDIATE_EXIT, which ember needs because VCPUs are kicked out of KVM_RUN "
            "without a race");
}

TEST(KvmDevice, AnErrorFromTheCheckCountsAsAbsent) {
  const auto status = require_capabilities([](long capability) { return capability == KVM_CAP_USER_MEMORY ? -1 : 1; });
  ASSERT_FALSE(status);
  EXPECT_EQ(status.error().call, "KVM_CHECK_EXTENSION");
  EXPECT_NE(status.error().message.find("KVM_CAP_USER_MEMORY"), std::string::npos);
}

}  // namespace
}  // namespace ember::kvm
