// The host side of bench/virtio_blk.sh: the same access patterns as the
// guest program tests/guests/virtio_blk_bench.c (64 KiB sequential, 4 KiB at
// the same pseudo-random sectors, writes ending in fdatasync) on the same
// file, timed in TSC cycles, which a KVM guest's TSC counts at the same rate.
//
//   host_disk_io IMAGE            prints "bench NAME bytes=N requests=N cycles=N" lines and tsc_hz=N
#include <fcntl.h>
#include <unistd.h>
#include <x86intrin.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

constexpr uint32_t kBig = 64 * 1024, kHuge = 1024 * 1024, kSmall = 4096, kRandomRequests = 4096;

uint64_t next_random(uint64_t& state) {
  state = state * 6364136223846793005ull + 1442695040888963407ull;
  return state >> 33;
}

bool run(int fd, const char* name, bool write, uint32_t size, bool random, uint64_t sectors, std::vector<uint8_t>& buffer) {
  const uint64_t per = size / 512;
  const uint64_t requests = random ? kRandomRequests : sectors / per;
  uint64_t state = 12345;
  const uint64_t start = __rdtsc();
  for (uint64_t i = 0; i < requests; ++i) {
    const uint64_t sector = random ? (next_random(state) % (sectors / per)) * per : i * per;
    const auto offset = static_cast<off_t>(sector * 512);
    const ssize_t done = write ? ::pwrite(fd, buffer.data(), size, offset) : ::pread(fd, buffer.data(), size, offset);
    if (done != static_cast<ssize_t>(size)) return false;
  }
  if (write && ::fdatasync(fd) != 0) return false;
  std::printf("bench %s bytes=%llu requests=%llu cycles=%llu\n", name, static_cast<unsigned long long>(requests * size),
              static_cast<unsigned long long>(requests), static_cast<unsigned long long>(__rdtsc() - start));
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: host_disk_io IMAGE\n");
    return 2;
  }
  const int fd = ::open(argv[1], O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    std::perror(argv[1]);
    return 1;
  }
  const uint64_t sectors = static_cast<uint64_t>(::lseek(fd, 0, SEEK_END)) / 512;
  std::vector<uint8_t> buffer(kHuge, 0x5a);
  if (!run(fd, "seq_read", false, kBig, false, sectors, buffer) || !run(fd, "seq_write", true, kBig, false, sectors, buffer) ||
      !run(fd, "seq_read_1m", false, kHuge, false, sectors, buffer) ||
      !run(fd, "seq_write_1m", true, kHuge, false, sectors, buffer) ||
      !run(fd, "rand_read", false, kSmall, true, sectors, buffer) || !run(fd, "rand_write", true, kSmall, true, sectors, buffer)) {
    std::perror("I/O");
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t c0 = __rdtsc();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const uint64_t cycles = __rdtsc() - c0;
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("tsc_hz=%llu\n", static_cast<unsigned long long>(static_cast<double>(cycles) / seconds));
  return 0;
}
