// libFuzzer target: virtio-blk requests (parser and execution) against a
// small scratch image. The input is split into a chain: a readable part
// (header and data) and a writable part (data and status).
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "virtio/block_device.h"

using namespace ember;

namespace {
virtio::BlockDevice& device() {
  static virtio::BlockDevice* instance = [] {
    char path[] = "/tmp/ember-fuzz-disk-XXXXXX";
    const int fd = ::mkstemp(path);
    if (fd < 0 || ::ftruncate(fd, 64 * 512) != 0) std::abort();
    ::close(fd);
    auto disk = virtio::DiskImage::open(path, virtio::DiskImage::Access::kReadWrite);
    ::unlink(path);
    if (!disk) std::abort();
    auto* created = new virtio::BlockDevice(std::move(*disk), 1);
    created->activate(virtio::kFeatureVersion1 | virtio::BlockDevice::kFeatureFlush);
    return created;
  }();
  return *instance;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  // Byte 0: how many readable buffers (0-3); bytes 1-2: writable length.
  const size_t pieces = data[0] & 3;
  const size_t writable = std::min<size_t>(data[1] | (data[2] << 8), 8192);
  std::vector<uint8_t> readable(data + 3, data + size);
  std::vector<uint8_t> out(writable);
  virtio::DescriptorChain chain;
  const size_t step = pieces == 0 ? 0 : (readable.size() + pieces - 1) / pieces;
  for (size_t at = 0; pieces > 0 && at < readable.size(); at += step) {
    chain.add_readable({readable.data() + at, std::min(step, readable.size() - at)});
  }
  if (writable > 0) chain.add_writable({out.data(), writable});
  const uint32_t written = device().handle(0, chain);
  if (written > writable) std::abort();  // the used length can never exceed the buffers
  return 0;
}
