#include "cli/arguments.h"

#include "cli/exit_codes.h"
#include "cli/help.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace ember::cli {
namespace {

Result<Invocation> parse(std::vector<std::string_view> args) { return parse_arguments(args); }

std::string error_of(std::vector<std::string_view> args) {
  const auto result = parse(args);
  return result.ok() ? "" : result.error().message;
}

TEST(Arguments, NoArgumentsMeansHelp) {
  const auto result = parse({});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->command, Command::Help);
}

TEST(Arguments, RunWithDefaults) {
  const auto result = parse({"run", "--kernel", "k.elf"});
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->command, Command::Run);
  EXPECT_EQ(result->machine.kernel_path, "k.elf");
  EXPECT_EQ(result->machine.memory_bytes, 128ull << 20);
  EXPECT_EQ(result->machine.cpus, 1u);
  EXPECT_EQ(result->machine.cmdline, kDefaultCmdline);
  EXPECT_EQ(result->machine.console.kind, ConsoleConfig::Kind::Stdio);
  EXPECT_FALSE(result->timeout.has_value());
}

TEST(Arguments, EveryOptionInBothForms) {
  const auto result = parse({"run", "--kernel=k", "--initrd", "i", "--cmdline=a b", "--memory", "1G", "--cpus=4",
                             "--console", "file:/tmp/out", "--timeout=2.5"});
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->machine.initrd_path, "i");
  EXPECT_EQ(result->machine.cmdline, "a b");
  EXPECT_EQ(result->machine.memory_bytes, 1ull << 30);
  EXPECT_EQ(result->machine.cpus, 4u);
  EXPECT_EQ(result->machine.console.kind, ConsoleConfig::Kind::File);
  EXPECT_EQ(result->machine.console.path, "/tmp/out");
  EXPECT_EQ(result->timeout, std::chrono::milliseconds{2500});
}

TEST(Arguments, EmptyCmdlineIsAllowed) {
  const auto result = parse({"run", "--kernel", "k", "--cmdline", ""});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->machine.cmdline, "");
}

TEST(Arguments, MemorySizes) {
  EXPECT_EQ(parse({"run", "--kernel", "k", "--memory", "256"})->machine.memory_bytes, 256ull << 20) << "bare number is MiB";
  EXPECT_EQ(parse({"run", "--kernel", "k", "--memory", "65536K"})->machine.memory_bytes, 64ull << 20);
  EXPECT_EQ(parse({"run", "--kernel", "k", "--memory", "2GiB"})->machine.memory_bytes, 2ull << 30);
}

// One table drives both the parser and --help (issue 17): every option it
// holds is in the help, with its value, and is known to the parser, which
// knows no other.
TEST(Arguments, EveryOptionOfTheTableIsInTheHelpAndKnownToTheParser) {
  const std::string help = run_usage();
  for (const Option& option : run_options()) {
    std::string head = "  " + std::string(option.name);
    if (option.takes_value()) head += " " + std::string(option.value_name);
    EXPECT_NE(help.find(head), std::string::npos) << head;
    std::vector<std::string_view> args{"run", "--kernel", "k", option.name};
    if (option.takes_value()) args.push_back("x");
    EXPECT_EQ(error_of(args).find("unknown option"), std::string::npos) << option.name;
  }
  EXPECT_NE(error_of({"run", "--kernel", "k", "--rngs"}).find("unknown option '--rngs'"), std::string::npos);
}

TEST(Arguments, MemoryZeroIsRefused) { EXPECT_EQ(error_of({"run", "--kernel", "k", "--memory", "0"}), "--memory must be greater than zero"); }
TEST(Arguments, MemoryNotPageAlignedIsRefused) {
  EXPECT_NE(error_of({"run", "--kernel", "k", "--memory", "4097K"}).find("multiple of 4 KiB"), std::string::npos);
}
TEST(Arguments, MemoryTooSmallIsRefused) {
  EXPECT_NE(error_of({"run", "--kernel", "k", "--memory", "1M"}).find("at least 4 MiB"), std::string::npos);
}
TEST(Arguments, MemoryTooLargeIsRefused) {
  EXPECT_NE(error_of({"run", "--kernel", "k", "--memory", "2T"}).find("at most"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--memory", "99999999999999999999"}).find("not a size"), std::string::npos);
}
TEST(Arguments, MalformedMemoryIsRefused) {
  for (std::string_view bad : {"", "M", "12Q", "-5", "1.5G", " 12"}) {
    EXPECT_NE(error_of({"run", "--kernel", "k", "--memory", bad}).find("not a size"), std::string::npos) << bad;
  }
}

TEST(Arguments, CpuCounts) {
  EXPECT_EQ(error_of({"run", "--kernel", "k", "--cpus", "0"}), "--cpus must be at least 1");
  EXPECT_NE(error_of({"run", "--kernel", "k", "--cpus", "255"}).find("at most 254"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--cpus", "two"}).find("not a whole number"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--cpus", "-1"}).find("not a whole number"), std::string::npos);
}

TEST(Arguments, DiskOptions) {
  const auto disks = parse({"run", "--kernel", "k", "--disk", "a.img,overlay,queues=2", "--disk", "b.img,ro", "--disk", "c.img"});
  ASSERT_TRUE(disks.ok()) << disks.error().message;
  ASSERT_EQ(disks->machine.disks.size(), 3u);
  EXPECT_TRUE(disks->machine.disks[0].overlay);
  EXPECT_FALSE(disks->machine.disks[0].read_only);
  EXPECT_EQ(disks->machine.disks[0].queues, 2);
  EXPECT_TRUE(disks->machine.disks[1].read_only);
  EXPECT_FALSE(disks->machine.disks[1].overlay);
  EXPECT_FALSE(disks->machine.disks[2].overlay || disks->machine.disks[2].read_only);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--disk", "a.img,ro,overlay"}).find("ro and overlay exclude each other"),
            std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--disk", "a.img,cow"}).find("is not ro, overlay or queues=N"), std::string::npos);
}

TEST(Arguments, SnapshotAndRestore) {
  const auto snapshot = parse({"snapshot", "--kernel", "k", "--initrd", "i", "--disk", "d.img,overlay", "--out", "/tmp/s"});
  ASSERT_TRUE(snapshot.ok()) << snapshot.error().message;
  EXPECT_EQ(snapshot->command, Command::Snapshot);
  EXPECT_EQ(snapshot->machine.snapshot_dir, "/tmp/s");
  EXPECT_NE(snapshot->machine.cmdline.find(" ember.await-command"), std::string::npos);
  EXPECT_NE(snapshot->machine.cmdline.find("panic=-1"), std::string::npos);
  EXPECT_NE(error_of({"snapshot", "--kernel", "k", "--initrd", "i"}).find("needs --out DIR"), std::string::npos);
  EXPECT_NE(error_of({"snapshot", "--kernel", "k", "--out", "s"}).find("needs --initrd"), std::string::npos);
  EXPECT_NE(error_of({"snapshot", "--kernel", "k", "--initrd", "i", "--out", "s", "--", "true"}).find("runs no command"), std::string::npos);

  const auto restore = parse({"run", "--restore", "/tmp/s", "--timeout", "5", "--", "sh", "-c", "echo 'a b'; exit 3"});
  ASSERT_TRUE(restore.ok()) << restore.error().message;
  EXPECT_EQ(restore->machine.restore_dir, "/tmp/s");
  EXPECT_EQ(restore->machine.restore_command, R"('sh' '-c' 'echo '\''a b'\''; exit 3')");
  EXPECT_EQ(restore->machine.cmdline.find("ember.command="), std::string::npos) << "the command goes through the command port";
  EXPECT_EQ(error_of({"run", "--restore", "/tmp/s", "--memory", "1G"}), "--memory cannot be given with --restore: the snapshot fixes the machine");
  // The snapshot's disks are named again (machine/snapshot.cpp checks them).
  const auto with_disk = parse({"run", "--restore", "/tmp/s", "--disk", "x.img,overlay", "--", "true"});
  ASSERT_TRUE(with_disk.ok()) << with_disk.error().message;
  ASSERT_EQ(with_disk->machine.disks.size(), 1u);
  EXPECT_TRUE(with_disk->machine.disks[0].overlay);
  // So are its interfaces, each on a TAP device of the restore's choosing.
  const auto with_net = parse({"run", "--restore", "/tmp/s", "--net", "tap=t7", "--", "true"});
  ASSERT_TRUE(with_net.ok()) << with_net.error().message;
  ASSERT_EQ(with_net->machine.nets.size(), 1u);
  EXPECT_EQ(with_net->machine.nets[0].tap, "t7");
  const auto with_vsock = parse({"run", "--restore", "/tmp/s", "--vsock", "9,socket=/tmp/v", "--", "true"});
  ASSERT_TRUE(with_vsock.ok()) << with_vsock.error().message;
  EXPECT_EQ(with_vsock->machine.vsock->cid, 9u);
  EXPECT_EQ(error_of({"run", "--restore", "/tmp/s", "--cpus", "2"}), "--cpus cannot be given with --restore: the snapshot fixes the machine");
  EXPECT_EQ(error_of({"run", "--restore", "/tmp/s", "--share", "/tmp"}), "--share cannot be given with --restore: the snapshot fixes the machine");
  EXPECT_EQ(error_of({"snapshot", "--kernel", "k", "--initrd", "i", "--out", "s", "--restore", "r"}), "--restore belongs to 'ember run'");
}

TEST(Arguments, ConsoleModes) {
  EXPECT_EQ(parse({"run", "--kernel", "k", "--console", "none"})->machine.console.kind, ConsoleConfig::Kind::None);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--console", "file:"}).find("not one of"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--console", "tcp"}).find("not one of"), std::string::npos);
}

TEST(Arguments, VirtioConsoleMakesHvc0TheDefaultConsoleButKeepsAGivenCmdline) {
  const auto virtio = parse({"run", "--kernel", "k", "--console", "virtio"});
  ASSERT_TRUE(virtio.ok()) << virtio.error().message;
  EXPECT_EQ(virtio->machine.console.kind, ConsoleConfig::Kind::Virtio);
  EXPECT_EQ(virtio->machine.cmdline, kDefaultVirtioConsoleCmdline);
  EXPECT_EQ(virtio->machine.virtio_device_count(), 1u);
  EXPECT_EQ(parse({"run", "--kernel", "k", "--cmdline", "quiet", "--console", "virtio"})->machine.cmdline, "quiet");
}

TEST(Arguments, VirtioConsoleCountsTowardsTheVirtioDeviceLimit) {
  std::vector<std::string_view> args{"run", "--kernel", "k", "--rng", "--console", "virtio"};
  for (int i = 0; i < 7; ++i) args.insert(args.end(), {"--disk", "d"});
  EXPECT_NE(error_of(args).find("at most 8 virtio devices"), std::string::npos) << error_of(args);
  args.resize(args.size() - 2);
  EXPECT_EQ(error_of(args), "");
}

// The 8-device cap is virtio-mmio's (8 windows and IOAPIC pins); virtio-pci
// has PCI bus 0's slots and MSI-X.
TEST(Arguments, VirtioPciTakesThirtyDevicesAndVirtioMmioEight) {
  std::vector<std::string_view> args{"run", "--kernel", "k", "--virtio-transport", "pci"};
  for (int i = 0; i < 30; ++i) args.insert(args.end(), {"--disk", "d"});
  EXPECT_EQ(error_of(args), "");
  args.insert(args.end(), {"--rng"});
  EXPECT_NE(error_of(args).find("at most 30 virtio devices"), std::string::npos) << error_of(args);
  args[4] = "mmio";
  EXPECT_NE(error_of(args).find("at most 8 virtio devices"), std::string::npos) << error_of(args);
  EXPECT_NE(error_of(args).find("pci takes 30"), std::string::npos) << error_of(args);
}

TEST(Arguments, TestDeviceIsOffByDefaultAndTakesNoValue) {
  EXPECT_FALSE(parse({"run", "--kernel", "k"})->machine.test_device);
  EXPECT_TRUE(parse({"run", "--kernel", "k", "--test-device"})->machine.test_device);
  EXPECT_EQ(error_of({"run", "--kernel", "k", "--test-device=on"}), "--test-device takes no value");
  EXPECT_EQ(error_of({"run", "--kernel", "k", "--test-device", "--test-device"}), "--test-device is given more than once");
}

TEST(Arguments, NetInterfacesGetTheirTapAndDistinctDefaultMacs) {
  const auto result = parse({"run", "--kernel", "k", "--net", "tap=tap0", "--net=tap=tap1,mac=02:00:00:AA:bb:01"});
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_EQ(result->machine.nets.size(), 2u);
  EXPECT_EQ(result->machine.nets[0].tap, "tap0");
  EXPECT_EQ(result->machine.nets[0].mac, (std::array<uint8_t, 6>{0x52, 0x54, 0, 0x12, 0x34, 0x56}));
  EXPECT_EQ(result->machine.nets[1].mac, (std::array<uint8_t, 6>{0x02, 0, 0, 0xaa, 0xbb, 0x01}));
  EXPECT_EQ(parse({"run", "--kernel", "k", "--net", "tap=a", "--net", "tap=b"})->machine.nets[1].mac[5], 0x57);
}

TEST(Arguments, MalformedNetOptionsAreRefused) {
  EXPECT_NE(error_of({"run", "--kernel", "k", "--net", "mac=52:54:00:12:34:56"}).find("needs tap=NAME"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--net", "tap="}).find("is not an interface name"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--net", "tap=a-name-of-16-chr"}).find("is not an interface name"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--net", "tap=../x"}).find("is not an interface name"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--net", "tap=t,mac=01:00:00:00:00:01"}).find("not a unicast MAC"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--net", "tap=t,mac=52:54:00:12:34"}).find("not a unicast MAC"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--net", "tap=t,mac=52-54-00-12-34-56"}).find("not a unicast MAC"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--net", "tap=t,mac=52:54:00:12:34:5g"}).find("not a unicast MAC"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--net", "tap=t,queues=2"}).find("is not tap=NAME or mac=MAC"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--net", "tap=t", "--net", "tap=t"}).find("is given twice"), std::string::npos);
}

TEST(Arguments, Timeouts) {
  EXPECT_EQ(parse({"run", "--kernel", "k", "--timeout", "30"})->timeout, std::chrono::milliseconds{30000});
  EXPECT_EQ(parse({"run", "--kernel", "k", "--timeout", "0.05"})->timeout, std::chrono::milliseconds{50});
  EXPECT_EQ(error_of({"run", "--kernel", "k", "--timeout", "0"}), "--timeout must be greater than zero");
  for (std::string_view bad : {"", "abc", "1.2345", "1.", "-3", "1e3"}) {
    EXPECT_NE(error_of({"run", "--kernel", "k", "--timeout", bad}).find("not a number of seconds"), std::string::npos) << bad;
  }
}

TEST(Arguments, KernelIsRequired) { EXPECT_EQ(error_of({"run"}), "'ember run' needs --kernel PATH"); }
TEST(Arguments, EmptyKernelPathIsRefused) { EXPECT_EQ(error_of({"run", "--kernel="}), "--kernel needs a path"); }
TEST(Arguments, UnknownOptionIsRefused) { EXPECT_EQ(error_of({"run", "--kernel", "k", "--turbo"}), "unknown option '--turbo'"); }
TEST(Arguments, UnknownCommandIsRefused) { EXPECT_EQ(error_of({"start"}), "unknown command 'start'"); }
TEST(Arguments, DuplicateOptionIsRefused) {
  EXPECT_EQ(error_of({"run", "--kernel", "k", "--memory", "64M", "--memory=128M"}), "--memory is given more than once");
}
TEST(Arguments, MissingValueIsRefused) { EXPECT_EQ(error_of({"run", "--kernel"}), "--kernel needs a value"); }
TEST(Arguments, StrayArgumentIsRefused) { EXPECT_EQ(error_of({"run", "--kernel", "k", "extra"}), "unexpected argument 'extra'"); }

TEST(Arguments, HelpAfterRunShowsRunHelp) {
  const auto result = parse({"run", "--memory", "0", "--help"});
  ASSERT_FALSE(result.ok()) << "options are validated in order; an error before --help is still an error";
  EXPECT_EQ(parse({"run", "--help"})->command, Command::RunHelp);
}

TEST(Arguments, GuestCommandAfterDoubleDash) {
  const auto result = parse({"run", "--kernel", "k", "--initrd", "i", "--", "echo", "a b", "--cpus"});
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->guest_command, (std::vector<std::string>{"echo", "a b", "--cpus"})) << "everything after -- is the command";
  EXPECT_NE(result->machine.cmdline.find(" panic=-1 "), std::string::npos) << result->machine.cmdline;
  EXPECT_TRUE(result->machine.cmdline.ends_with(guest_command_parameter({"echo", "a b", "--cpus"})));
}

TEST(Arguments, GuestCommandKeepsAUserPanicSetting) {
  const auto result = parse({"run", "--kernel", "k", "--initrd", "i", "--cmdline", "console=ttyS0 panic=5", "--", "true"});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->machine.cmdline.find("panic=-1"), std::string::npos);
}

TEST(Arguments, GuestCommandNeedsAnInitrdAndAWord) {
  EXPECT_NE(error_of({"run", "--kernel", "k", "--", "ls"}).find("needs --initrd"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--initrd", "i", "--"}).find("must be followed by the command"), std::string::npos);
}

TEST(Arguments, GuestCommandIsShellQuotedThenHexEncoded) {
  // 'it'\''s' is how sh spells it's inside single quotes.
  EXPECT_EQ(guest_command_parameter({"a"}), "ember.command=276127");
  const std::string quoted = "'it'\\''s' ''";
  std::string hex;
  for (unsigned char c : quoted) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  EXPECT_EQ(guest_command_parameter({"it's", ""}), "ember.command=" + hex);
}

TEST(Arguments, ReportFormat) {
  EXPECT_TRUE(parse({"run", "--kernel", "k", "--report", "json"})->report_json);
  EXPECT_FALSE(parse({"run", "--kernel", "k"})->report_json);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--report", "xml"}).find("not a report format"), std::string::npos);
}

TEST(Arguments, VsockTakesACidAndASocketPath) {
  const auto plain = parse({"run", "--kernel", "k", "--vsock", "3"});
  ASSERT_TRUE(plain->machine.vsock);
  EXPECT_EQ(plain->machine.vsock->cid, 3u);
  EXPECT_EQ(plain->machine.vsock->socket_path, "/tmp/ember-vsock-3.sock");
  EXPECT_EQ(parse({"run", "--kernel", "k", "--vsock", "77,socket=/run/v.sock"})->machine.vsock->socket_path, "/run/v.sock");
  EXPECT_EQ(plain->machine.virtio_device_count(), 1u);
  for (const char* cid : {"2", "0", "4294967295", "x", ""}) {
    EXPECT_NE(error_of({"run", "--kernel", "k", "--vsock", cid}).find("is not a guest CID"), std::string::npos) << cid;
  }
  EXPECT_NE(error_of({"run", "--kernel", "k", "--vsock", "5,path=/x"}).find("is not socket=PATH"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--vsock", "5,socket="}).find("is not socket=PATH"), std::string::npos);
}

TEST(Arguments, ShareAndFsNameADirectoryOrASocketAndATag) {
  const auto shared = parse({"run", "--kernel", "k", "--share", "/home/me/project/", "--share", "/data,tag=d,ro", "--fs",
                             "socket=/run/fs.sock,tag=other"});
  ASSERT_TRUE(shared) << shared.error().message;
  const auto& shares = shared->machine.shares;
  ASSERT_EQ(shares.size(), 3u);
  EXPECT_EQ(shares[0].host_dir, "/home/me/project/");
  EXPECT_EQ(shares[0].tag, "project") << "the directory's last name";
  EXPECT_FALSE(shares[0].read_only);
  EXPECT_EQ(shares[1].tag, "d");
  EXPECT_TRUE(shares[1].read_only);
  EXPECT_EQ(shares[2].socket_path, "/run/fs.sock");
  EXPECT_EQ(shares[2].tag, "other");
  EXPECT_EQ(shared->machine.virtio_device_count(), 3u);
  EXPECT_NE(shared->machine.cmdline.find(" ember.shares=project,d,other"), std::string::npos) << shared->machine.cmdline;
  EXPECT_EQ(parse({"run", "--kernel", "k", "--share", "."})->machine.shares[0].tag, "share");
  EXPECT_EQ(parse({"run", "--kernel", "k", "--share", "./-n"})->machine.shares[0].tag, "share") << "no tag a mount takes for an option";
  EXPECT_EQ(parse({"run", "--kernel", "k", "--share", "/my dir"})->machine.shares[0].tag, "share");
  EXPECT_NE(error_of({"run", "--kernel", "k", "--share", "/a,tag=-o"}).find("is not a tag"), std::string::npos);

  EXPECT_NE(error_of({"run", "--kernel", "k", "--share", "/a,tag=x", "--share", "/b,tag=x"}).find("given twice"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--share", "/a,tag=has space"}).find("is not a tag"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--share", "/a,tag=" + std::string(37, 'x')}).find("is not a tag"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--share", "/a,tag=.."}).find("is not a tag"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--share", "/a,rw"}).find("is not tag=TAG or ro"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--share", ""}).find("needs a directory"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--fs", "tag=x"}).find("needs socket=PATH"), std::string::npos);
  EXPECT_NE(error_of({"run", "--kernel", "k", "--fs", "socket=/s"}).find("is not a tag"), std::string::npos);
}

TEST(Arguments, VirtioTransport) {
  EXPECT_EQ(parse({"run", "--kernel", "k"})->machine.virtio_transport, MachineConfig::VirtioTransport::Mmio);
  EXPECT_EQ(parse({"run", "--kernel", "k", "--virtio-transport", "pci"})->machine.virtio_transport,
            MachineConfig::VirtioTransport::Pci);
  EXPECT_EQ(error_of({"run", "--kernel", "k", "--virtio-transport", "isa"}), "--virtio-transport 'isa' is not one of mmio, pci");
}

TEST(Arguments, DescribeMachine) {
  EXPECT_EQ(parse({"run", "--kernel", "k"})->machine.description, MachineConfig::Description::MpTable);
  EXPECT_EQ(parse({"run", "--kernel", "k", "--describe-machine", "dtb"})->machine.description,
            MachineConfig::Description::DeviceTree);
  EXPECT_EQ(parse({"run", "--kernel", "k", "--describe-machine=mptable"})->machine.description,
            MachineConfig::Description::MpTable);
  EXPECT_EQ(error_of({"run", "--kernel", "k", "--describe-machine", "acpi"}),
            "--describe-machine 'acpi' is not one of mptable, dtb");
}

TEST(Arguments, AcpiIsOnByDefaultAndNeverWithADeviceTree) {
  EXPECT_TRUE(parse({"run", "--kernel", "k"})->machine.acpi_tables());
  EXPECT_FALSE(parse({"run", "--kernel", "k", "--acpi", "off"})->machine.acpi_tables());
  EXPECT_TRUE(parse({"run", "--kernel", "k", "--acpi=on"})->machine.acpi_tables());
  EXPECT_FALSE(parse({"run", "--kernel", "k", "--describe-machine", "dtb"})->machine.acpi_tables())
      << "the device tree is the whole description";
  EXPECT_EQ(error_of({"run", "--kernel", "k", "--acpi", "yes"}), "--acpi 'yes' is not one of on, off");
  EXPECT_EQ(error_of({"run", "--kernel", "k", "--acpi", "on", "--describe-machine", "dtb"}),
            "--acpi on and --describe-machine dtb exclude each other: the device tree is then the whole description");
}

TEST(Arguments, DumpDtbTakesAPath) {
  EXPECT_EQ(parse({"run", "--kernel", "k", "--dump-dtb", "out.dtb"})->dump_dtb_path, "out.dtb");
  EXPECT_EQ(parse({"run", "--kernel", "k"})->dump_dtb_path, "");
  EXPECT_EQ(error_of({"run", "--kernel", "k", "--dump-dtb="}), "--dump-dtb needs a file path");
  EXPECT_NE(error_of({"run", "--kernel", "k", "--dump-dtb", "a", "--dump-dtb", "b"}).find("more than once"), std::string::npos);
}

TEST(ExitCodes, ResetMeansNoCommandStatusOnlyInCommandMode) {
  const Outcome reset{Outcome::Kind::Reset, 0, "reset"};
  EXPECT_EQ(exit_code_for(reset), 0);
  EXPECT_EQ(exit_code_for(reset, true), 123);
  EXPECT_EQ(exit_code_for(Outcome{Outcome::Kind::GuestExit, 3, {}}, true), 3);
  EXPECT_EQ(exit_code_for(Outcome{Outcome::Kind::Timeout, 0, {}}, true), 124);
}

}  // namespace
}  // namespace ember::cli

namespace ember::cli {
namespace {

TEST(QemuConventionArguments, ModulesAndFwCfgFilesRepeatAndKeepTheirOrder) {
  const auto result = parse_arguments(std::vector<std::string_view>{
      "run", "--kernel", "k", "--module", "a.bin x=1", "--module=b.bin", "--fw-cfg", "name=opt/a,string=hi, there",
      "--fw-cfg", "name=opt/b,file=/tmp/f"});
  ASSERT_TRUE(result.ok()) << result.error().message;
  EXPECT_EQ(result->machine.modules, (std::vector<std::string>{"a.bin x=1", "b.bin"}));
  ASSERT_EQ(result->machine.fw_cfg_files.size(), 2u);
  EXPECT_EQ(result->machine.fw_cfg_files[0].name, "opt/a");
  EXPECT_EQ(result->machine.fw_cfg_files[0].text, "hi, there");
  EXPECT_EQ(result->machine.fw_cfg_files[1].path, "/tmp/f");
}

TEST(QemuConventionArguments, ExitDevice) {
  EXPECT_EQ(parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k"})->machine.exit_device, ExitDevice::Ember);
  EXPECT_EQ(parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k", "--exit-device", "qemu"})->machine.exit_device,
            ExitDevice::Qemu);
  const auto bad = parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k", "--exit-device", "isa"});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("not one of ember, qemu"), std::string::npos);
  EXPECT_FALSE(parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k", "--exit-device", "qemu", "--exit-device",
                                                              "qemu"})
                   .ok())
      << "at most once";
}

TEST(QemuConventionArguments, BadValuesAreRefused) {
  for (const auto* value : {"opt/a,string=x", "name=opt/a", "name=opt/a,blob=x", "name=,string=x", "name=opt/a,file="}) {
    const auto result = parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k", "--fw-cfg", value});
    EXPECT_FALSE(result.ok()) << value;
  }
  EXPECT_FALSE(parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k", "--module", ""}).ok());
  EXPECT_FALSE(parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k", "--module", " args"}).ok());
}

}  // namespace
}  // namespace ember::cli

namespace ember::cli {
namespace {

TEST(SeccompArgument, OnByDefaultOffOnRequest) {
  // On unless this is a sanitizer build (security/seccomp_filters.h).
  EXPECT_EQ(parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k"})->machine.seccomp, kSeccompByDefault);
  EXPECT_TRUE(parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k", "--seccomp", "on"})->machine.seccomp);
  EXPECT_FALSE(parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k", "--seccomp", "off"})->machine.seccomp);
  EXPECT_FALSE(parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k", "--seccomp", "no"}).ok());
}

TEST(UserArgument, NumericUidAndGid) {
  const auto result = parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k", "--user", "65534:100"});
  ASSERT_TRUE(result.ok()) << result.error().message;
  ASSERT_TRUE(result->machine.run_as);
  EXPECT_EQ(result->machine.run_as->uid, 65534u);
  EXPECT_EQ(result->machine.run_as->gid, 100u);
  EXPECT_FALSE(parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k"})->machine.run_as);
  for (const auto* bad : {"nobody", "65534", ":1", "1:", "1:2:3", "-1:0", "4294967295:0"}) {
    const auto refused = parse_arguments(std::vector<std::string_view>{"run", "--kernel", "k", "--user", bad});
    EXPECT_FALSE(refused.ok()) << bad;
  }
}

}  // namespace
}  // namespace ember::cli
