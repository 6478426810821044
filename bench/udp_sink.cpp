// The host end of bench/virtio_net.sh: counts the UDP datagrams and bytes
// that reach ADDRESS:PORT until none has arrived for a second (after the
// first), then prints "received packets=N bytes=B" and the TSC frequency
// ("tsc_hz=N", measured over 200 ms) to turn the guest's cycles into time.
//
//   udp_sink ADDRESS PORT
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <x86intrin.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: udp_sink ADDRESS PORT\n");
    return 2;
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int buffer_bytes = 64 << 20;
  (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &buffer_bytes, sizeof buffer_bytes);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(std::atoi(argv[2])));
  if (::inet_pton(AF_INET, argv[1], &address.sin_addr) != 1 ||
      ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("udp_sink: bind");
    return 1;
  }
  std::printf("listening\n");
  std::fflush(stdout);
  unsigned long long packets = 0, bytes = 0;
  char datagram[65536];
  for (;;) {
    pollfd waiting{fd, POLLIN, 0};
    if (::poll(&waiting, 1, packets == 0 ? 120'000 : 1000) <= 0) break;
    const ssize_t got = ::recv(fd, datagram, sizeof datagram, 0);
    if (got < 0) break;
    ++packets;
    bytes += static_cast<unsigned long long>(got);
  }
  std::printf("received packets=%llu bytes=%llu\n", packets, bytes);
  const auto t0 = std::chrono::steady_clock::now();
  const unsigned long long c0 = __rdtsc();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("tsc_hz=%llu\n", static_cast<unsigned long long>(static_cast<double>(__rdtsc() - c0) / seconds));
  return 0;
}
