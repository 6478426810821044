// Tier 3, distribution kernels: Debian 12's own kernels (linux-image-amd64
// and linux-image-cloud-amd64, scripts/build-stock-guest.sh), as a user
// would launch them, with an initramfs that loads their virtio and ext4
// modules (images/stock/init). They must find every CPU (the cloud kernel
// has no MP-table parser, so only ACPI's MADT tells it), find an ext4 disk
// over either virtio transport (neither has virtio_mmio.device=, so only
// the DSDT tells it), read the host's date from the RTC, find the i8042
// and RTC answering, and power off with status 0, saying little on stderr.
//
// They need guest user space, so like linux_userspace_test.cpp they skip
// on kvm_pvm, naming why, and must pass in the nested tier.
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>

#include "linux/linux_guest.h"
#include "linux/linux_userspace_fixture.h"
#include "support/run_process.h"

namespace ember::test {
namespace {

constexpr const char* kMarker = "written-by-the-stock-kernel-test";

struct StockBoot {
  const char* name;
  const char* kernel_dir;  // a scripts/build-stock-guest.sh directory
  const char* image;       // vmlinuz (bzImage) or vmlinux (ELF, PVH entry)
  const char* transport;   // mmio (ember's default) or pci
  int         cpus;
};

std::ostream& operator<<(std::ostream& out, const StockBoot& boot) { return out << boot.name; }

int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

class StockKernel : public LinuxUserspaceFixture, public ::testing::WithParamInterface<StockBoot> {
 protected:
  void TearDown() override {
    if (!disk_.empty()) std::filesystem::remove(disk_);
    LinuxUserspaceFixture::TearDown();
  }
  const std::string& make_disk() {
    disk_ = make_ext4_image({{"marker", std::string(kMarker) + "\n"}});
    return disk_;
  }
  // A run, and when (host time) the guest's RTC line reached ember's stdout.
  struct StockRun {
    ProcessResult          result;
    std::optional<int64_t> rtc_line_seen_at;
  };
  static StockRun boot(const std::string& kernel_dir, const std::string& image, std::vector<std::string> options,
                       const std::string& cmdline) {
    std::vector<std::string> argv{EMBER_BINARY, "run",      "--kernel", kernel_dir + "/" + image, "--initrd",
                                  kernel_dir + "/initramfs.cpio.gz", "--memory", "512M", "--timeout", "300",
                                  "--report", "json", "--cmdline", "console=ttyS0 quiet initcall_debug " + cmdline};
    argv.insert(argv.end(), options.begin(), options.end());
    BackgroundProcess ember{argv};
    // Watched as it runs, so the RTC's reading can be set beside the host's
    // clock at the moment the guest printed it, not at ember's exit.
    StockRun run;
    while (ember.running()) {
      const auto out = ember.out();
      const auto line = out.find("stock: rtc ");
      if (line != std::string::npos && out.find('\n', line) != std::string::npos) {
        run.rtc_line_seen_at = now_seconds();
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    run.result = ember.wait();
    std::erase(run.result.out, '\r');
    return run;
  }

  std::string disk_;
};

// The "stock: ..." lines images/stock/init prints.
std::string stock_line(const std::string& console, const std::string& key) {
  const auto at = console.find("stock: " + key);
  if (at == std::string::npos) return {};
  const auto start = at + 7 + key.size();
  return console.substr(start, console.find('\n', start) - start);
}

// images/stock/init's two RTC readings, two seconds of guest time apart.
std::optional<std::pair<int64_t, int64_t>> rtc_readings(const std::string& console) {
  std::istringstream readings{stock_line(console, "rtc ")};
  int64_t first = 0, second = 0;
  if (!(readings >> first >> second)) return std::nullopt;
  return std::pair{first, second};
}

size_t line_count(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

TEST_P(StockKernel, FindsEveryCpuItsDiskAndTheClockThenPowersOff) {
  const StockBoot& param = GetParam();
  const auto run = boot(param.kernel_dir, param.image,
                        {"--cpus", std::to_string(param.cpus), "--disk", make_disk(), "--virtio-transport", param.transport},
                        "stock.disk");
  const auto& result = run.result;
  const std::string context = "console:\n" + result.out + "\nstderr:\n" + result.err;
  EXPECT_EQ(result.exit_code, 0) << "a power-off through ACPI S5 is status 0\n" << context;
  EXPECT_NE(result.err.find("\"outcome\":\"power_off\""), std::string::npos) << "a power-off, not a reset\n" << context;
  EXPECT_EQ(stock_line(result.out, "cpus online "), "0-" + std::to_string(param.cpus - 1)) << context;
  EXPECT_EQ(stock_line(result.out, "disk marker "), kMarker) << context;
  EXPECT_EQ(stock_line(result.out, "acpi complaints "), "0") << "the kernel's ACPI code found fault with ember's tables\n"
                                                             << context;

  // Neither driver gave up on its device. The probe times are
  // bench/stock_probe_times.sh's to measure, not a test's.
  EXPECT_NE(result.out.find("rtc_cmos rtc_cmos: registered as rtc0"), std::string::npos) << context;
  EXPECT_EQ(result.out.find("broken or not accessible"), std::string::npos) << context;
  EXPECT_EQ(result.out.find("Can't read CTR"), std::string::npos) << context;
  EXPECT_NE(result.out.find("serio: i8042 AUX port at 0x60,0x64 irq 12"), std::string::npos) << context;

  // The last thing init does before powering off is to read the RTC twice,
  // two seconds of guest time apart, and print both. The second reading
  // (whole seconds, so up to 1 s behind) is set beside the host's clock
  // when the line reached ember's stdout: within 2 s of it.
  const auto readings = rtc_readings(result.out);
  ASSERT_TRUE(readings) << "two RTC readings expected\n" << context;
  ASSERT_TRUE(run.rtc_line_seen_at) << context;
  const auto [first, second] = *readings;
  EXPECT_LE(second, *run.rtc_line_seen_at) << "the RTC is ahead of the host\n" << context;
  EXPECT_LE(*run.rtc_line_seen_at - second, 2) << "the RTC is more than 2 s behind the host\n" << context;
  EXPECT_GE(second - first, 1) << "the RTC did not move while the guest slept 2 s\n" << context;
  EXPECT_LE(second - first, 5) << "the RTC ran ahead while the guest slept 2 s\n" << context;

  EXPECT_LT(line_count(result.err), 20u) << "a normal boot is quiet on stderr:\n" << result.err;
}

const StockBoot kBoots[] = {
    {"GenericBzImageMmio2Cpus", EMBER_STOCK_GENERIC_DIR, "vmlinuz", "mmio", 2},
    {"GenericVmlinuxPci2Cpus", EMBER_STOCK_GENERIC_DIR, "vmlinux", "pci", 2},
    {"GenericVmlinuxMmio4Cpus", EMBER_STOCK_GENERIC_DIR, "vmlinux", "mmio", 4},
    {"CloudBzImagePci2Cpus", EMBER_STOCK_CLOUD_DIR, "vmlinuz", "pci", 2},
    {"CloudVmlinuxMmio2Cpus", EMBER_STOCK_CLOUD_DIR, "vmlinux", "mmio", 2},
    {"CloudBzImageMmio4Cpus", EMBER_STOCK_CLOUD_DIR, "vmlinuz", "mmio", 4},
};
INSTANTIATE_TEST_SUITE_P(Debian12, StockKernel, ::testing::ValuesIn(kBoots),
                         [](const ::testing::TestParamInfo<StockBoot>& boot) { return std::string(boot.param.name); });

// acpi=off: the cloud kernel, which has no MP-table parser either, keeps
// the 8259 ("PIC mode") and never programs its LAPIC, so its timer reaches
// it only through LINT0 in virtual-wire mode, as firmware leaves the boot
// CPU. init's `sleep 1` returns only if the timer interrupt does.
TEST_F(StockKernel, CloudKernelWithAcpiOffRunsInPicModeWithATimer) {
  const auto result = boot(EMBER_STOCK_CLOUD_DIR, "vmlinuz", {"--cpus", "2"}, "acpi=off stock.sleep").result;
  const std::string context = "console:\n" + result.out + "\nstderr:\n" + result.err;
  EXPECT_EQ(stock_line(result.out, "slept "), "1 s") << context;
  EXPECT_EQ(stock_line(result.out, "cpus online "), "0") << "without ACPI or an MP parser it sees one CPU\n" << context;
  // Linux probes the i8042 directly here, as it does with ACPI (the FADT
  // says an 8042 is there, the DSDT names no PS/2 device): self-test,
  // configuration byte, aux loopback and its IRQ 12 must all answer for
  // both ports to register.
  EXPECT_NE(result.out.find("serio: i8042 KBD port at 0x60,0x64 irq 1"), std::string::npos) << context;
  EXPECT_NE(result.out.find("serio: i8042 AUX port at 0x60,0x64 irq 12"), std::string::npos) << context;
  EXPECT_EQ(result.out.find("Can't read CTR"), std::string::npos) << context;
}

// --acpi off: no ACPI tables at all. The generic kernel falls back to the
// MP table for its CPUs and finds a PCI disk by scanning bus 0.
TEST_F(StockKernel, GenericKernelWithoutAcpiTablesUsesTheMpTable) {
  const auto result = boot(EMBER_STOCK_GENERIC_DIR, "vmlinuz",
                           {"--cpus", "2", "--acpi", "off", "--disk", make_disk(), "--virtio-transport", "pci"}, "stock.disk").result;
  const std::string context = "console:\n" + result.out + "\nstderr:\n" + result.err;
  EXPECT_EQ(stock_line(result.out, "cpus online "), "0-1") << context;
  EXPECT_EQ(stock_line(result.out, "disk marker "), kMarker) << context;
  EXPECT_TRUE(rtc_readings(result.out)) << "two RTC readings\n" << context;
}

}  // namespace
}  // namespace ember::test
