#include "base/strings.h"

#include <gtest/gtest.h>

namespace ember {
namespace {

TEST(Strings, ParseDecimalRefusesOverflowAndNonDigits) {
  EXPECT_EQ(parse_decimal("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(parse_decimal("18446744073709551616"));
  EXPECT_FALSE(parse_decimal(""));
  EXPECT_FALSE(parse_decimal("+1"));
  EXPECT_FALSE(parse_decimal("1 "));
}

TEST(Strings, ParseSizeUnits) {
  EXPECT_EQ(parse_size("4096B"), 4096u);
  EXPECT_EQ(parse_size("4k"), 4096u);
  EXPECT_EQ(parse_size("3"), 3u << 20);
  EXPECT_EQ(parse_size("1T"), 1ull << 40);
  EXPECT_EQ(parse_size("2gib"), 2ull << 30);
  EXPECT_FALSE(parse_size("17179869184G")) << "overflows 2^64";
  EXPECT_FALSE(parse_size("5X"));
  EXPECT_FALSE(parse_size("G"));
}

TEST(Strings, FormatSize) {
  EXPECT_EQ(format_size(128ull << 20), "128 MiB");
  EXPECT_EQ(format_size(4096), "4 KiB");
  EXPECT_EQ(format_size(4097), "4097 bytes");
  EXPECT_EQ(hex(0x3f8), "0x3f8");
}

// Paths from untrusted files reach the terminal in error messages: escape
// sequences in them are shown, not obeyed; other bytes stay as they are.
TEST(Strings, PrintableEscapesControlBytesOnly) {
  EXPECT_EQ(printable("/tmp/disk.img"), "/tmp/disk.img");
  EXPECT_EQ(printable("a\x1b[2Jb\n\x7f"), "a\\x1b[2Jb\\x0a\\x7f");
  EXPECT_EQ(printable(std::string_view{"\0z", 2}), "\\x00z");
  EXPECT_EQ(printable("caf\xc3\xa9"), "caf\xc3\xa9") << "UTF-8 passes";
}

}  // namespace
}  // namespace ember
