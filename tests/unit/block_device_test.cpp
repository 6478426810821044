// virtio-blk requests (virtio 1.2 §5.2.6) against a real image file: the
// parser's refusals from tests/HOSTILE-INPUTS.md (sector overflow, past the end,
// read-only, unknown types, no status byte) and the I/O itself, plus the
// image lock.
#include "virtio/block_device.h"

#include <gtest/gtest.h>
#include <csignal>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

namespace ember::virtio {
namespace {

constexpr uint64_t kSectors = 64;

std::string make_image(uint64_t bytes) {
  char path[] = "/tmp/ember-disk-XXXXXX";
  const int fd = ::mkstemp(path);
  EXPECT_GE(fd, 0);
  std::vector<uint8_t> content(bytes);
  for (size_t i = 0; i < content.size(); ++i) content[i] = static_cast<uint8_t>(i / 512);  // each sector holds its number
  EXPECT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::close(fd);
  return path;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, {}};
}

// One request's buffers, laid out as a driver would: header, data, status.
struct Request {
  std::vector<uint8_t> header = std::vector<uint8_t>(16);
  std::vector<uint8_t> data;
  std::vector<uint8_t> status = {0xff};
  bool                 data_writable = false;

  Request(uint32_t type, uint64_t sector, size_t data_bytes, bool writable) : data(data_bytes), data_writable{writable} {
    std::memcpy(header.data(), &type, 4);
    std::memcpy(header.data() + 8, &sector, 8);
  }
  DescriptorChain chain() {
    DescriptorChain c;
    c.add_readable(header);
    if (!data.empty()) {
      if (data_writable) c.add_writable(data);
      else c.add_readable(data);
    }
    c.add_writable(status);
    return c;
  }
};

class BlockDeviceTest : public ::testing::Test {
 protected:
  void TearDown() override {
    device_.reset();
    ::unlink(path_.c_str());
  }
  BlockDevice& open(bool read_only = false) {
    return open_as(read_only ? DiskImage::Access::kReadOnly : DiskImage::Access::kReadWrite);
  }
  BlockDevice& open_as(DiskImage::Access access) {
    auto disk = DiskImage::open(path_, access);
    EXPECT_TRUE(disk.ok()) << disk.error().message;
    device_ = std::make_unique<BlockDevice>(std::move(*disk), 1);
    device_->activate(kFeatureVersion1 | BlockDevice::kFeatureFlush);
    return *device_;
  }
  uint8_t run(Request& request) {
    const DescriptorChain chain = request.chain();
    device_->handle(0, chain);
    return request.status[0];
  }

  std::string                  path_ = make_image(kSectors * 512);
  std::unique_ptr<BlockDevice> device_;
};

TEST_F(BlockDeviceTest, ConfigurationAnnouncesCapacityInSectors) {
  auto& device = open();
  uint64_t capacity;
  std::memcpy(&capacity, device.config_space().data(), 8);
  EXPECT_EQ(capacity, kSectors);
  EXPECT_EQ(device.device_type(), 2u);
  EXPECT_NE(device.device_features() & BlockDevice::kFeatureFlush, 0u);
  EXPECT_EQ(device.device_features() & BlockDevice::kFeatureReadOnly, 0u);
}

TEST_F(BlockDeviceTest, ReadReturnsTheSectorsAndReportsBytesWritten) {
  open();
  Request read{0, 3, 1024, true};
  const DescriptorChain chain = read.chain();
  EXPECT_EQ(device_->handle(0, chain), 1025u);
  EXPECT_EQ(read.status[0], 0);
  EXPECT_EQ(read.data[0], 3);
  EXPECT_EQ(read.data[1023], 4);
}

TEST_F(BlockDeviceTest, WriteThenFlushReachesTheFile) {
  open();
  Request write{1, 10, 512, false};
  std::fill(write.data.begin(), write.data.end(), 0xee);
  EXPECT_EQ(run(write), 0);
  Request flush{4, 0, 0, false};
  EXPECT_EQ(run(flush), 0);
  const auto bytes = file_bytes(path_);
  EXPECT_EQ(bytes[10 * 512], 0xee);
  EXPECT_EQ(bytes[11 * 512], 11);
}

TEST_F(BlockDeviceTest, RequestsPastTheEndOrOverflowingAreIoErrors) {
  open();
  Request last{0, kSectors - 1, 512, true};
  EXPECT_EQ(run(last), 0);
  Request past{0, kSectors - 1, 1024, true};
  EXPECT_EQ(run(past), 1);
  Request overflow{0, ~0ull, 512, true};
  EXPECT_EQ(run(overflow), 1);
  Request write_overflow{1, ~0ull - 1, 1024, false};
  EXPECT_EQ(run(write_overflow), 1);
  Request partial{0, 0, 100, true};
  EXPECT_EQ(run(partial), 1) << "not a whole number of sectors";
  EXPECT_EQ(file_bytes(path_).size(), kSectors * 512) << "nothing was written outside the disk";
}

TEST_F(BlockDeviceTest, WritesToReadOnlyDiskAreRefusedAndTheFileIsUnchanged) {
  auto& device = open(true);
  EXPECT_NE(device.device_features() & BlockDevice::kFeatureReadOnly, 0u);
  Request write{1, 0, 512, false};
  std::fill(write.data.begin(), write.data.end(), 0xee);
  EXPECT_EQ(run(write), 1);
  Request zeroes{13, 0, 16, false};
  EXPECT_EQ(run(zeroes), 2) << "read-only disks do not offer WRITE_ZEROES";
  EXPECT_EQ(file_bytes(path_)[0], 0);
  EXPECT_EQ(file_bytes(path_)[511], 0);
}

TEST_F(BlockDeviceTest, UnknownRequestTypeIsUnsupported) {
  open();
  Request odd{99, 0, 0, false};
  EXPECT_EQ(run(odd), 2);
}

TEST_F(BlockDeviceTest, ShortHeaderIsAnIoError) {
  open();
  std::vector<uint8_t> header(8), status{0xff};
  DescriptorChain chain;
  chain.add_readable(header);
  chain.add_writable(status);
  device_->handle(0, chain);
  EXPECT_EQ(status[0], 1);
}

TEST_F(BlockDeviceTest, RequestWithoutStatusByteIsDroppedWithoutWriting) {
  open();
  std::vector<uint8_t> header(16);
  DescriptorChain chain;
  chain.add_readable(header);
  EXPECT_EQ(device_->handle(0, chain), 0u);
}

TEST_F(BlockDeviceTest, GetIdAnswersTheSerial) {
  open();
  Request id{8, 0, 20, true};
  EXPECT_EQ(run(id), 0);
  EXPECT_NE(id.data[0], 0);
  Request small{8, 0, 10, true};
  EXPECT_EQ(run(small), 1);
}

TEST_F(BlockDeviceTest, WriteZeroesZeroesAndDiscardIsAccepted) {
  open();
  Request zeroes{13, 0, 16, false};
  const uint64_t sector = 5;
  const uint32_t count = 2;
  std::memcpy(zeroes.data.data(), &sector, 8);
  std::memcpy(zeroes.data.data() + 8, &count, 4);
  EXPECT_EQ(run(zeroes), 0);
  const auto bytes = file_bytes(path_);
  EXPECT_EQ(bytes[5 * 512], 0);
  EXPECT_EQ(bytes[7 * 512 - 1], 0);
  EXPECT_EQ(bytes[7 * 512], 7);
  Request discard{11, 0, 16, false};
  std::memcpy(discard.data.data(), &sector, 8);
  std::memcpy(discard.data.data() + 8, &count, 4);
  EXPECT_EQ(run(discard), 0);
  Request past{13, 0, 16, false};
  const uint64_t far = kSectors;
  std::memcpy(past.data.data(), &far, 8);
  std::memcpy(past.data.data() + 8, &count, 4);
  EXPECT_EQ(run(past), 1);
  Request flags{11, 0, 16, false};
  const uint32_t unmap = 1;
  std::memcpy(flags.data.data() + 12, &unmap, 4);
  EXPECT_EQ(run(flags), 2) << "unmap is not a discard flag";
  Request ragged{13, 0, 20, false};
  EXPECT_EQ(run(ragged), 1);
}

// Issue 18, item 14: ember announces max_write_zeroes_sectors and
// max_discard_sectors; a range above them is refused, even on a disk large
// enough to hold it (a sparse 3 GiB image here).
TEST_F(BlockDeviceTest, RangesAboveTheAnnouncedSectorLimitAreRefused) {
  ASSERT_EQ(::truncate(path_.c_str(), 3ll << 30), 0);
  open();
  for (const uint32_t type : {11u, 13u}) {  // DISCARD, WRITE_ZEROES
    SCOPED_TRACE(type);
    Request request{type, 0, 16, false};
    const uint64_t sector = 0;
    const uint32_t count = kMaxRangeSectors + 1;
    std::memcpy(request.data.data(), &sector, 8);
    std::memcpy(request.data.data() + 8, &count, 4);
    EXPECT_EQ(run(request), 1);
    const uint32_t allowed = kMaxRangeSectors;
    std::memcpy(request.data.data() + 8, &allowed, 4);
    request.status[0] = 0xff;
    EXPECT_EQ(run(request), 0) << "exactly the limit is fine";
  }
}

// Issue 18, item 14: every failed write is the guest's to repeat; its
// errors are rate-limited like any guest-triggered message. Writes past
// RLIMIT_FSIZE fail with EFBIG (SIGXFSZ ignored meanwhile).
TEST_F(BlockDeviceTest, WriteErrorsAreRateLimited) {
  open();
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto previous = ::signal(SIGXFSZ, SIG_IGN);
  const rlimit tiny{512, saved.rlim_max};
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &tiny), 0);
  ::testing::internal::CaptureStderr();
  int failed = 0;
  for (int i = 0; i < 200; ++i) {
    Request write{1, 4, 512, false};
    failed += run(write) == 1;
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &saved), 0);
  ::signal(SIGXFSZ, previous);
  EXPECT_EQ(failed, 200) << "every write past the limit is an I/O error to the guest";
  size_t lines = 0;
  for (size_t at = err.find("write failed"); at != std::string::npos; at = err.find("write failed", at + 1)) ++lines;
  EXPECT_GE(lines, 1u);
  EXPECT_LE(lines, 20u) << err;
}

TEST_F(BlockDeviceTest, WritableImageIsLockedAgainstASecondOpener) {
  open();
  auto second = DiskImage::open(path_, DiskImage::Access::kReadWrite);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.error().message.find("in use by another process"), std::string::npos) << second.error().message;
  EXPECT_FALSE(DiskImage::open(path_, DiskImage::Access::kReadOnly).ok()) << "a reader must not share a disk being written";
}

TEST_F(BlockDeviceTest, ReadOnlyOpenersShareAnImage) {
  open(true);
  EXPECT_TRUE(DiskImage::open(path_, DiskImage::Access::kReadOnly).ok());
  EXPECT_FALSE(DiskImage::open(path_, DiskImage::Access::kReadWrite).ok());
}

// A restore compares the descriptor's file with the snapshot's disk
// (Machine::create): the identity is the opened file's, and a file put in
// the path's place afterwards has another.
TEST_F(BlockDeviceTest, AnImagesIdentityIsTheFileItOpened) {
  auto image = DiskImage::open(path_, DiskImage::Access::kOverlay);
  ASSERT_TRUE(image.ok()) << image.error().message;
  struct stat info {};
  ASSERT_EQ(::stat(path_.c_str(), &info), 0);
  EXPECT_EQ(image->identity(), file_identity(info));
  const std::string moved = path_ + ".old";
  ASSERT_EQ(::rename(path_.c_str(), moved.c_str()), 0);
  const std::string replacement = make_image(kSectors * 512);
  ASSERT_EQ(::rename(replacement.c_str(), path_.c_str()), 0);
  ASSERT_EQ(::stat(path_.c_str(), &info), 0);
  EXPECT_NE(image->identity(), file_identity(info));
  ::unlink(moved.c_str());
}

TEST(DiskImage, MissingDirectoryAndEmptyFilesAreRefusedWithTheirName) {
  auto missing = DiskImage::open("/nonexistent/disk.img", DiskImage::Access::kReadWrite);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("'/nonexistent/disk.img'"), std::string::npos);
  auto directory = DiskImage::open("/tmp", DiskImage::Access::kReadOnly);
  ASSERT_FALSE(directory.ok());
  EXPECT_NE(directory.error().message.find("not a regular file"), std::string::npos) << directory.error().message;
  const std::string empty = make_image(0);
  auto tiny = DiskImage::open(empty, DiskImage::Access::kReadWrite);
  ::unlink(empty.c_str());
  ASSERT_FALSE(tiny.ok());
  EXPECT_NE(tiny.error().message.find("smaller than one"), std::string::npos);
}

// --disk PATH,overlay: the guest's writes go to a private layer; the image
// never changes, reads merge the two sector by sector, and two overlays over
// one image share it without seeing each other.
TEST_F(BlockDeviceTest, AnOverlayDiskReadsItsOwnWritesAndLeavesTheImageAlone) {
  const auto before = file_bytes(path_);
  open_as(DiskImage::Access::kOverlay);
  EXPECT_EQ(device_->device_features() & BlockDevice::kFeatureReadOnly, 0u) << "the guest may write";
  Request write{1, 10, 1024, false};  // sectors 10 and 11
  std::fill(write.data.begin(), write.data.end(), 0xee);
  ASSERT_EQ(run(write), 0);
  Request flush{4, 0, 0, false};
  EXPECT_EQ(run(flush), 0);
  // Sectors 8..13 in one read: image, image, overlay, overlay, image, image.
  Request read{0, 8, 6 * 512, true};
  ASSERT_EQ(run(read), 0);
  for (int sector = 8; sector < 14; ++sector) {
    const uint8_t expected = sector == 10 || sector == 11 ? 0xee : static_cast<uint8_t>(sector);
    EXPECT_EQ(read.data[static_cast<size_t>(sector - 8) * 512], expected) << "sector " << sector;
    EXPECT_EQ(read.data[static_cast<size_t>(sector - 8) * 512 + 511], expected) << "sector " << sector;
  }
  device_.reset();
  EXPECT_EQ(file_bytes(path_), before) << "the image changed";
}

// A snapshot does not hold an overlay's sectors, so a disk the guest wrote
// to before the snapshot refuses one (a restore would lose the writes);
// reads and flushes leave it snapshottable.
TEST_F(BlockDeviceTest, AnOverlayTheGuestWroteToRefusesASnapshotAndReadsDoNot) {
  open_as(DiskImage::Access::kOverlay);
  Request read{0, 0, 512, true};
  ASSERT_EQ(run(read), 0);
  Request flush{4, 0, 0, false};
  ASSERT_EQ(run(flush), 0);
  EXPECT_EQ(device_->why_not_snapshottable(), std::nullopt);
  Request write{1, 3, 512, false};
  ASSERT_EQ(run(write), 0);
  const auto why = device_->why_not_snapshottable();
  ASSERT_TRUE(why.has_value());
  EXPECT_NE(why->find("overlay disk '" + path_ + "'"), std::string::npos) << *why;
  EXPECT_NE(why->find("a restore would lose them"), std::string::npos) << *why;
}

TEST_F(BlockDeviceTest, ReadsSplitAcrossGuestBuffersStillMergeByTheSector) {
  open_as(DiskImage::Access::kOverlay);
  Request write{1, 1, 512, false};
  std::fill(write.data.begin(), write.data.end(), 0xab);
  ASSERT_EQ(run(write), 0);
  // Sectors 0..2 into three buffers of 700, 700 and 136 bytes: the overlay's
  // sector straddles the first two.
  std::vector<uint8_t> header(16), first(700), second(700), third(136), status{0xff};
  const uint32_t in = 0;
  std::memcpy(header.data(), &in, 4);
  DescriptorChain chain;
  chain.add_readable(header);
  chain.add_writable(first);
  chain.add_writable(second);
  chain.add_writable(third);
  chain.add_writable(status);
  device_->handle(0, chain);
  ASSERT_EQ(status[0], 0);
  std::vector<uint8_t> all(first);
  all.insert(all.end(), second.begin(), second.end());
  all.insert(all.end(), third.begin(), third.end());
  for (size_t i = 0; i < all.size(); ++i) {
    const uint8_t expected = i / 512 == 1 ? 0xab : static_cast<uint8_t>(i / 512);
    ASSERT_EQ(all[i], expected) << "byte " << i;
  }
}

TEST_F(BlockDeviceTest, WriteZeroesOnAnOverlayReadsAsZeroesAndTheImageKeepsItsBytes) {
  const auto before = file_bytes(path_);
  open_as(DiskImage::Access::kOverlay);
  Request zeroes{13, 0, 16, false};  // one range: sector 20, 2 sectors, unmap
  const uint64_t sector = 20;
  const uint32_t count = 2, flags = 1;
  std::memcpy(zeroes.data.data(), &sector, 8);
  std::memcpy(zeroes.data.data() + 8, &count, 4);
  std::memcpy(zeroes.data.data() + 12, &flags, 4);
  ASSERT_EQ(run(zeroes), 0);
  Request read{0, 19, 4 * 512, true};
  ASSERT_EQ(run(read), 0);
  EXPECT_EQ(read.data[0], 19);
  EXPECT_EQ(read.data[512], 0);
  EXPECT_EQ(read.data[1024 + 511], 0);
  EXPECT_EQ(read.data[1536], 22);
  device_.reset();
  EXPECT_EQ(file_bytes(path_), before);
}

TEST_F(BlockDeviceTest, TwoOverlaysOverOneImageShareItAndNeverSeeEachOthersWrites) {
  auto first = DiskImage::open(path_, DiskImage::Access::kOverlay);
  ASSERT_TRUE(first) << first.error().message;
  auto second = DiskImage::open(path_, DiskImage::Access::kOverlay);
  ASSERT_TRUE(second) << "a read lock, shared: " << second.error().message;
  EXPECT_FALSE(DiskImage::open(path_, DiskImage::Access::kReadWrite)) << "nobody may write the image under an overlay";
  std::vector<uint8_t> mine(512, 0x11), theirs(512, 0x22), back(512);
  ASSERT_TRUE(first->write({{mine.data(), 512}}, 5 * 512));
  ASSERT_TRUE(second->write({{theirs.data(), 512}}, 5 * 512));
  ASSERT_TRUE(first->read({{back.data(), 512}}, 5 * 512));
  EXPECT_EQ(back, mine);
  ASSERT_TRUE(second->read({{back.data(), 512}}, 5 * 512));
  EXPECT_EQ(back, theirs);
  EXPECT_EQ(file_bytes(path_)[5 * 512], 5);
}

TEST_F(BlockDeviceTest, AnOverlayWithoutAWritableTemporaryDirectoryIsAClearError) {
  const char* old = std::getenv("TMPDIR");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("TMPDIR", "/nonexistent-ember-tmp", 1);
  auto disk = DiskImage::open(path_, DiskImage::Access::kOverlay);
  if (old != nullptr) ::setenv("TMPDIR", saved.c_str(), 1);
  else ::unsetenv("TMPDIR");
  ASSERT_FALSE(disk);
  EXPECT_NE(disk.error().message.find("cannot make its overlay file in /nonexistent-ember-tmp"), std::string::npos)
      << disk.error().message;
}

}  // namespace
}  // namespace ember::virtio
