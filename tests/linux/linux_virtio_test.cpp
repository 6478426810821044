// Linux with virtio-console as its console and a virtio-net interface on a
// TAP device in a network namespace the test creates (linux tier). The
// kernel configures its address itself (ip=, CONFIG_IP_PNP) and answers
// ICMP echo in the kernel, so this needs no guest user space, which the
// nested development host cannot run. It then waits for a root device that
// never comes (rootwait), and the test stops ember with SIGTERM.
#include <csignal>

#include <gtest/gtest.h>

#include <string>

#include "support/network_namespace.h"
#include "support/run_process.h"

namespace ember::test {
namespace {

TEST(LinuxVirtio, ConsoleOnHvc0AndTheKernelAnswersPingOverVirtioNet) {
  ASSERT_TRUE(kvm_available()) << kNoKvm;
  if (const auto why = enter_network_namespace(); !why.empty()) GTEST_SKIP() << why;
  ASSERT_EQ(make_tap(), "");
  // The nested-host options of linux_boot_test.cpp, with hvc0 as the console.
  const std::string cmdline = std::string("console=hvc0 noxsave clearcpuid=popcnt,smap,smep 8250.nr_uarts=1 ip=") + kGuestAddress +
                              "::" + kHostAddress + ":255.255.255.0::eth0:off root=/dev/vdz rootwait";
  BackgroundProcess ember{{EMBER_BINARY, "run", "--kernel", std::string(EMBER_GUEST_KERNEL_DIR) + "/vmlinux", "--memory", "128M",
                           "--console", "virtio", "--net", std::string("tap=") + kTapName, "--timeout", "600", "--cmdline", cmdline}};
  const bool configured = ember.wait_for_out("IP-Config: Complete", 400);
  const bool answered = configured && ping(kGuestAddress, 60);
  // The kernel prints this after IP-Config; on a loaded host, well after.
  const bool waiting = configured && ember.wait_for_out("Waiting for root device /dev/vdz", 300);
  const auto result = ember.stop(SIGTERM);
  ASSERT_TRUE(configured) << "console:\n" << result.out << "\nstderr:\n" << result.err;
  EXPECT_TRUE(answered) << "the guest never answered ping; console:\n" << result.out;
  // hvc0 shows what the kernel prints once virtio-console is probed (the
  // hvc layer drops console output until its backend exists), which
  // includes the IP configuration and the wait for the root device.
  EXPECT_TRUE(waiting) << result.out;
  EXPECT_NE(result.out.find(std::string("hwaddr=") + kGuestMac + ", ipaddr=" + kGuestAddress), std::string::npos) << result.out;
}

}  // namespace
}  // namespace ember::test
