#include "boot/image_bytes.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/open_scratch_file.h"

namespace ember::boot {
namespace {

std::vector<uint8_t> counting_bytes(size_t size) {
  std::vector<uint8_t> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(i * 13 + 1);
  return bytes;
}

using ScratchFile = testing_support::OpenScratchFile;

TEST(ImageBytes, InMemoryCopiesAnyRangeInsideAndRefusesOneOutside) {
  const auto bytes = counting_bytes(100);
  const ImageBytes image{bytes};
  EXPECT_TRUE(image.in_memory());
  std::vector<uint8_t> into(10);
  ASSERT_TRUE(image.copy(90, into).ok());
  EXPECT_EQ(into, std::vector<uint8_t>(bytes.begin() + 90, bytes.end()));
  EXPECT_TRUE(image.copy(100, std::span<uint8_t>{}).ok()) << "an empty range at the end";
  EXPECT_FALSE(image.copy(91, into).ok());
  EXPECT_FALSE(image.copy(~uint64_t{0} - 2, into).ok()) << "offset + size wraps";
}

TEST(ImageBytes, AFileImageReadsAcrossTheEndOfItsHead) {
  const auto bytes = counting_bytes(10000);
  const ScratchFile file{bytes};
  // A head that differs from the file: bytes below its end must come from it.
  std::vector<uint8_t> head(bytes.begin(), bytes.begin() + 4096);
  head[4095] ^= 0xff;
  const ImageBytes image{head, file.fd(), file.size()};
  EXPECT_FALSE(image.in_memory());
  std::vector<uint8_t> into(200);
  ASSERT_TRUE(image.copy(4000, into).ok());
  EXPECT_EQ(into[95], head[4095]) << "what the head holds comes from the head";
  EXPECT_TRUE(std::equal(into.begin() + 96, into.end(), bytes.begin() + 4096)) << "the rest from the file";
  std::vector<uint8_t> tail(1000);
  ASSERT_TRUE(image.copy(9000, tail).ok());
  EXPECT_TRUE(std::equal(tail.begin(), tail.end(), bytes.begin() + 9000));
  EXPECT_FALSE(image.copy(9001, tail).ok());
}

}  // namespace
}  // namespace ember::boot
