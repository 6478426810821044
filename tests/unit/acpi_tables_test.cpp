#include "boot/acpi_tables.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

namespace ember::boot {
namespace {

uint8_t sum(const std::vector<uint8_t>& bytes, size_t length) {
  return static_cast<uint8_t>(std::accumulate(bytes.begin(), bytes.begin() + static_cast<long>(length), 0u));
}

uint64_t field(const std::vector<uint8_t>& bytes, size_t offset, int width) {
  uint64_t value = 0;
  for (int i = 0; i < width; ++i) value |= uint64_t{bytes.at(offset + i)} << (8 * i);
  return value;
}

MachineDescription two_cpus_two_disks() {
  return MachineDescription{2, {}, 2, {{0xd0000000, 0x1000, 16}, {0xd0001000, 0x1000, 17}}};
}

const AcpiTable& find(const std::vector<AcpiTable>& tables, const std::string& signature) {
  for (const auto& table : tables) {
    if (table.signature == signature) return table;
  }
  throw std::runtime_error("no " + signature);
}

TEST(AcpiTables, EveryTableIsChecksummedAndReachableFromTheRsdp) {
  const auto tables = build_acpi_tables(two_cpus_two_disks()).value();
  const auto& rsdp = tables.at(0);
  ASSERT_EQ(rsdp.signature, "RSD PTR ");
  EXPECT_EQ(rsdp.address, 0xe0000u) << "where an OS scans the BIOS area (ACPI 6.5 5.2.5.1)";
  EXPECT_EQ(sum(rsdp.bytes, 20), 0) << "the ACPI 1.0 checksum";
  EXPECT_EQ(sum(rsdp.bytes, 36), 0) << "the extended checksum";
  EXPECT_EQ(rsdp.bytes[15], 2);
  const auto& xsdt = find(tables, "XSDT");
  EXPECT_EQ(field(rsdp.bytes, 24, 8), xsdt.address);

  for (const auto& table : tables) {
    if (table.signature == "RSD PTR " || table.signature == "FACS") continue;
    EXPECT_EQ(field(table.bytes, 4, 4), table.bytes.size()) << table.signature << ": header length";
    EXPECT_EQ(sum(table.bytes, table.bytes.size()), 0) << table.signature << ": checksum";
    EXPECT_GE(table.address, kAcpiRsdp);
    EXPECT_LE(table.address + table.bytes.size(), kAcpiTablesEnd) << table.signature << " runs into the MP table";
  }
  // The XSDT lists the FADT and the MADT; the FADT points at the DSDT and FACS.
  ASSERT_EQ(xsdt.bytes.size(), 36u + 16);
  EXPECT_EQ(field(xsdt.bytes, 36, 8), find(tables, "FACP").address);
  EXPECT_EQ(field(xsdt.bytes, 44, 8), find(tables, "APIC").address);
  const auto& fadt = find(tables, "FACP");
  EXPECT_EQ(field(fadt.bytes, 140, 8), find(tables, "DSDT").address);
  EXPECT_EQ(field(fadt.bytes, 36, 4), find(tables, "FACS").address);
  EXPECT_EQ(field(fadt.bytes, 132, 8), 0u) << "X_FIRMWARE_CTRL: the 32-bit FIRMWARE_CTRL already says where";
  EXPECT_EQ(find(tables, "FACS").address % 64, 0u) << "ACPI 6.5 5.2.10";
  EXPECT_EQ(field(fadt.bytes, 112, 4) & (1u << 20), 0u) << "not hardware-reduced: the PIC and PIT stay";
  EXPECT_EQ(field(fadt.bytes, 64, 4), 0x604u) << "PM1a control";
  EXPECT_EQ(field(fadt.bytes, 116 + 4, 8), 0x64u) << "reset register: the i8042's command port";
  EXPECT_EQ(fadt.bytes[128], 0xfe);
}

TEST(AcpiTables, MadtListsEveryCpuTheIoapicAndTheOverrides) {
  const auto tables = build_acpi_tables(MachineDescription{4, {}, 4, {}}).value();
  const auto& madt = find(tables, "APIC").bytes;
  EXPECT_EQ(field(madt, 36, 4), 0xfee00000u);
  int cpus = 0, ioapics = 0, overrides = 0, nmis = 0;
  for (size_t offset = 44; offset < madt.size(); offset += madt[offset + 1]) {
    ASSERT_GE(madt[offset + 1], 2) << "a zero-length entry would loop";
    switch (madt[offset]) {
      case 0:
        EXPECT_EQ(madt[offset + 3], cpus) << "APIC IDs 0 .. cpus-1";
        EXPECT_EQ(madt[offset + 4] & 1, 1) << "enabled";
        ++cpus;
        break;
      case 1:
        EXPECT_EQ(madt[offset + 2], 4) << "the IOAPIC's ID";
        EXPECT_EQ(field(madt, offset + 4, 4), 0xfec00000u);
        ++ioapics;
        break;
      case 2:
        if (madt[offset + 3] == 0) {
          EXPECT_EQ(field(madt, offset + 4, 4), 2u) << "IRQ 0 on GSI 2";
        }
        ++overrides;
        break;
      case 4: EXPECT_EQ(madt[offset + 5], 1) << "LINT1"; ++nmis; break;
      default: ADD_FAILURE() << "unexpected MADT entry type " << int{madt[offset]};
    }
  }
  EXPECT_EQ(cpus, 4);
  EXPECT_EQ(ioapics, 1);
  EXPECT_EQ(overrides, 2);
  EXPECT_EQ(nmis, 1);
}

TEST(AcpiTables, TooManyCpusForTheBiosAreaIsAnError) {
  EXPECT_FALSE(build_acpi_tables(MachineDescription{10000, {}, 0, {}}).ok());
}

// iasl, the ACPICA compiler, decompiles every table and must find nothing
// wrong; the DSDT's text then names what Linux looks for.
TEST(AcpiTables, IaslDecompilesEveryTableCleanly) {
  const auto tables = build_acpi_tables(two_cpus_two_disks()).value();
  const auto dir = std::filesystem::temp_directory_path() / ("ember-acpi-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  for (const auto& table : tables) {
    if (table.signature == "RSD PTR ") continue;
    std::ofstream{dir / (table.signature + ".dat"), std::ios::binary}.write(reinterpret_cast<const char*>(table.bytes.data()),
                                                                           static_cast<std::streamsize>(table.bytes.size()));
  }
  const std::string command = "cd '" + dir.string() + "' && iasl -d DSDT.dat FACP.dat APIC.dat FACS.dat XSDT.dat > iasl.log 2>&1";
  const int status = std::system(command.c_str());
  std::ifstream log_file{dir / "iasl.log"};
  std::stringstream log;
  log << log_file.rdbuf();
  ASSERT_EQ(status, 0) << "iasl (Debian's acpica-tools, installed by scripts/setup.sh) failed:\n" << log.str();
  EXPECT_EQ(log.str().find("Error"), std::string::npos) << log.str();
  EXPECT_EQ(log.str().find("Warning"), std::string::npos) << log.str();

  std::ifstream dsl_file{dir / "DSDT.dsl"};
  std::stringstream dsl;
  dsl << dsl_file.rdbuf();
  const std::string text = dsl.str();
  for (const char* expected : {"Device (COM1)", "EisaId (\"PNP0501\")", "IO (Decode16,", "0x03F8", "Device (PCI0)",
                               "EisaId (\"PNP0A03\")", "WordBusNumber", "DWordMemory", "0xE0000000", "0xE0FFFFFF",
                               "Device (VR00)", "Device (VR01)", "\"LNRO0005\"", "0xD0001000", "Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive, ,, )",
                               "0x00000011", "Name (\\_S5, Package (0x04)"}) {
    EXPECT_NE(text.find(expected), std::string::npos) << "DSDT.dsl lacks " << expected << ":\n" << text;
  }
  if (!HasFailure() && !std::getenv("EMBER_KEEP_ACPI")) std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ember::boot
