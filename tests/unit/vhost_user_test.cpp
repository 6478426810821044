// ember as a vhost-user front end (virtio/vhost_user_*.h) against a fake
// backend on a socketpair: the messages' layout, the one reply parser and
// its refusals, the set-up and start exchanges with their file descriptors,
// interrupts from the call eventfd, and a backend that dies, lies or hangs.
#include "virtio/vhost_user_backend.h"

#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "memory/memory_map.h"

namespace ember::virtio {
namespace {

using namespace vhost_user;

constexpr uint64_t kBackendFeatures = kFeatureVersion1 | kFeatureEventIndex | kProtocolFeaturesFeature;

uint32_t u32_at(const std::vector<uint8_t>& bytes, size_t offset) {
  uint32_t value;
  std::memcpy(&value, bytes.data() + offset, 4);
  return value;
}
uint64_t u64_at(const std::vector<uint8_t>& bytes, size_t offset) {
  uint64_t value;
  std::memcpy(&value, bytes.data() + offset, 8);
  return value;
}

std::vector<uint8_t> reply(Request request, std::vector<uint8_t> payload, uint32_t flags = kVersion | kReplyFlag) {
  const auto code = static_cast<uint32_t>(request), size = static_cast<uint32_t>(payload.size());
  std::vector<uint8_t> bytes(kHeaderSize + payload.size());
  std::memcpy(bytes.data(), &code, 4);
  std::memcpy(bytes.data() + 4, &flags, 4);
  std::memcpy(bytes.data() + 8, &size, 4);
  for (size_t i = 0; i < payload.size(); ++i) bytes[kHeaderSize + i] = payload[i];
  return bytes;
}
std::vector<uint8_t> u64_payload(uint64_t value) {
  std::vector<uint8_t> bytes(8);
  std::memcpy(bytes.data(), &value, 8);
  return bytes;
}

TEST(VhostUserMessage, RequestsHaveTheSpecifiedLayout) {
  const auto features = u64_request(Request::kSetFeatures, 0x1122334455667788ull, true);
  ASSERT_EQ(features.bytes.size(), kHeaderSize + 8);
  EXPECT_EQ(u32_at(features.bytes, 0), 2u);
  EXPECT_EQ(u32_at(features.bytes, 4), kVersion | kNeedReplyFlag);
  EXPECT_EQ(u32_at(features.bytes, 8), 8u);
  EXPECT_EQ(u64_at(features.bytes, 12), 0x1122334455667788ull);

  // struct vhost_vring_addr: index, flags, then descriptor, used, available, log.
  const auto addresses = vring_addresses({3, 0x1000, 0x2000, 0x3000});
  ASSERT_EQ(addresses.bytes.size(), kHeaderSize + 40);
  EXPECT_EQ(u32_at(addresses.bytes, 12), 3u);
  EXPECT_EQ(u64_at(addresses.bytes, 20), 0x1000u);
  EXPECT_EQ(u64_at(addresses.bytes, 28), 0x2000u);
  EXPECT_EQ(u64_at(addresses.bytes, 36), 0x3000u);

  const MemoryRegion regions[] = {{0, 0x1000, 0x7f0000000000, 0}, {0x100000000, 0x2000, 0x7f0000100000, 0}};
  const auto table = memory_table(regions);
  ASSERT_EQ(table.bytes.size(), kHeaderSize + 8 + 2 * 32);
  EXPECT_EQ(u32_at(table.bytes, 12), 2u);
  EXPECT_EQ(u64_at(table.bytes, 20 + 32), 0x100000000u);
  EXPECT_EQ(u64_at(table.bytes, 20 + 32 + 16), 0x7f0000100000u);
}

TEST(VhostUserMessage, EveryMalformedReplyIsRefusedWithItsReason) {
  const auto good = reply(Request::kGetFeatures, u64_payload(7));
  ASSERT_TRUE(parse_u64_reply(Request::kGetFeatures, good));
  EXPECT_EQ(*parse_u64_reply(Request::kGetFeatures, good), 7u);
  struct Case {
    const char*          what;
    std::vector<uint8_t> bytes;
    ReplyFault           fault;
  } cases[] = {
      {"shorter than a header", std::vector<uint8_t>(good.begin(), good.begin() + 11), ReplyFault::kShort},
      {"payload cut short", std::vector<uint8_t>(good.begin(), good.end() - 1), ReplyFault::kShort},
      {"version 2", reply(Request::kGetFeatures, u64_payload(7), 2 | kReplyFlag), ReplyFault::kBadVersion},
      {"no reply flag", reply(Request::kGetFeatures, u64_payload(7), kVersion), ReplyFault::kNotAReply},
      {"another request's reply", reply(Request::kGetProtocolFeatures, u64_payload(7)), ReplyFault::kWrongRequest},
      {"4-byte payload", reply(Request::kGetFeatures, {1, 2, 3, 4}), ReplyFault::kWrongSize},
      {"huge size", reply(Request::kGetFeatures, std::vector<uint8_t>(300, 0)), ReplyFault::kWrongSize},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    const auto parsed = parse_u64_reply(Request::kGetFeatures, c.bytes);
    ASSERT_FALSE(parsed);
    EXPECT_EQ(parsed.error().code, c.fault) << parsed.error().message;
  }
}

// A backend on the other end of a socketpair, answering as `answer` says.
class FakeBackend {
 public:
  // What the backend does with one request: the reply to send (empty: none).
  using Answer = std::function<std::vector<uint8_t>(Request request, const std::vector<uint8_t>& payload, size_t fds)>;

  explicit FakeBackend(Answer answer) : answer_{std::move(answer)} {
    int ends[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) std::abort();
    ember_end_ = FileDescriptor{ends[0]};
    end_ = FileDescriptor{ends[1]};
    thread_ = std::thread{[this] { serve(); }};
  }
  ~FakeBackend() { close(); }
  void close() {
    if (end_.valid()) ::shutdown(end_.get(), SHUT_RDWR);
    if (thread_.joinable()) thread_.join();
    end_ = FileDescriptor{};
  }
  FileDescriptor take_ember_end() { return std::move(ember_end_); }
  std::vector<Request> requests() {
    std::lock_guard lock{mutex_};
    return requests_;
  }
  std::vector<int> received_fds() {
    std::lock_guard lock{mutex_};
    return fds_;
  }

 private:
  void serve() {
    for (;;) {
      std::vector<uint8_t> header(kHeaderSize);
      std::vector<uint8_t> control(CMSG_SPACE(sizeof(int) * 8));
      iovec data{header.data(), header.size()};
      msghdr message{};
      message.msg_iov = &data;
      message.msg_iovlen = 1;
      message.msg_control = control.data();
      message.msg_controllen = control.size();
      if (::recvmsg(end_.get(), &message, MSG_WAITALL) != static_cast<ssize_t>(kHeaderSize)) return;
      size_t fd_count = 0;
      for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr; c = CMSG_NXTHDR(&message, c)) {
        fd_count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        std::lock_guard lock{mutex_};
        for (size_t i = 0; i < fd_count; ++i) {
          int fd;
          std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
          fds_.push_back(fd);
        }
      }
      std::vector<uint8_t> payload(u32_at(header, 8));
      if (!payload.empty() && ::recv(end_.get(), payload.data(), payload.size(), MSG_WAITALL) != static_cast<ssize_t>(payload.size())) return;
      const auto request = static_cast<Request>(u32_at(header, 0));
      {
        std::lock_guard lock{mutex_};
        requests_.push_back(request);
      }
      auto answer = answer_(request, payload, fd_count);
      if ((u32_at(header, 4) & kNeedReplyFlag) != 0 && answer.empty()) answer = reply(request, u64_payload(0));
      if (!answer.empty() && ::send(end_.get(), answer.data(), answer.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  Answer            answer_;
  FileDescriptor    ember_end_, end_;
  std::thread       thread_;
  std::mutex        mutex_;
  std::vector<Request> requests_;
  std::vector<int>  fds_;
};

// A backend that answers what ember asks as virtiofsd would.
std::vector<uint8_t> well_behaved(Request request, const std::vector<uint8_t>& payload, size_t) {
  switch (request) {
    case Request::kGetFeatures: return reply(request, u64_payload(kBackendFeatures));
    case Request::kGetProtocolFeatures: return reply(request, u64_payload(kProtocolReplyAck));
    case Request::kGetVringBase: return reply(request, payload);  // index and 0
    default: return {};
  }
}

class RecordingEvents final : public QueueEvents {
 public:
  void used_buffers(uint16_t queue) override {
    std::lock_guard lock{mutex_};
    used_.push_back(queue);
  }
  void queue_broke(uint16_t, const std::string&) override {}
  std::vector<uint16_t> used() {
    std::lock_guard lock{mutex_};
    return used_;
  }

 private:
  std::mutex            mutex_;
  std::vector<uint16_t> used_;  // written by the backend's watcher thread
};

class VhostUserBackendTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<VhostUserBackend>> attach(FakeBackend& fake, VhostUserTiming timing = {}) {
    return VhostUserBackend::attach(fake.take_ember_end(), "test backend", memory_, 2,
                                    [this](const std::string& why) {
                                      std::lock_guard lock{mutex_};
                                      failures_.push_back(why);
                                    },
                                    timing);
  }
  // Liveness checks ten times a second, answered within 300 ms.
  static VhostUserTiming quick_liveness() {
    VhostUserTiming timing;
    timing.liveness_interval = std::chrono::milliseconds(100);
    timing.liveness_reply = std::chrono::milliseconds(300);
    return timing;
  }
  void wait_for_failure() {
    for (int i = 0; i < 1000 && failures().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  GuestMemory memory_ = std::move(GuestMemory::create(ram_regions_for(16 << 20), GuestMemory::Sharing::kShareable).value());
  // Written by the backend's threads.
  std::vector<std::string> failures() {
    std::lock_guard lock{mutex_};
    return failures_;
  }
  std::mutex               mutex_;
  std::vector<std::string> failures_;
};

TEST_F(VhostUserBackendTest, SetUpNegotiatesAndSendsTheMemoryTableWithItsFds) {
  FakeBackend fake{well_behaved};
  auto backend = attach(fake);
  ASSERT_TRUE(backend) << backend.error().message;
  EXPECT_EQ((*backend)->virtio_features(), kFeatureVersion1 | kFeatureEventIndex) << "bit 30 is vhost-user's, not virtio's";
  const std::vector<Request> expected{Request::kGetFeatures, Request::kGetProtocolFeatures, Request::kSetProtocolFeatures,
                                      Request::kSetOwner, Request::kSetMemTable};
  EXPECT_EQ(fake.requests(), expected);
  EXPECT_EQ(fake.received_fds().size(), memory_.regions().size()) << "one memfd per RAM region";
}

TEST_F(VhostUserBackendTest, StartHandsEachRingOverAndTheCallEventfdRaisesItsInterrupt) {
  FakeBackend fake{well_behaved};
  auto backend = attach(fake);
  ASSERT_TRUE(backend) << backend.error().message;
  const FileDescriptor notify{::eventfd(0, EFD_CLOEXEC)};
  const StartedQueue queues[] = {{1, {8, 0x10000, 0x11000, 0x12000}, notify.get()}};
  RecordingEvents events;
  ASSERT_TRUE((*backend)->start(kFeatureVersion1, queues, events));
  const auto requests = fake.requests();
  const std::vector<Request> tail{Request::kSetFeatures, Request::kSetVringNum, Request::kSetVringBase, Request::kSetVringAddr,
                                  Request::kSetVringKick, Request::kSetVringCall, Request::kSetVringEnable};
  ASSERT_GE(requests.size(), tail.size());
  EXPECT_EQ(std::vector<Request>(requests.end() - static_cast<long>(tail.size()), requests.end()), tail);
  const auto fds = fake.received_fds();
  ASSERT_GE(fds.size(), 2u);
  // The backend's copy of the call eventfd is the last fd it got: signal it.
  const uint64_t one = 1;
  ASSERT_EQ(::write(fds.back(), &one, sizeof one), 8);
  for (int i = 0; i < 500 && events.used().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(events.used(), std::vector<uint16_t>{1});
  (*backend)->stop();
  EXPECT_EQ(fake.requests().back(), Request::kGetVringBase);
  EXPECT_TRUE(failures().empty());
}

TEST_F(VhostUserBackendTest, ARefusalWhileStartingEndsTheRunNamingTheBackend) {
  FakeBackend fake{[](Request request, const std::vector<uint8_t>& payload, size_t fds) {
    if (request == Request::kSetVringAddr) return reply(request, u64_payload(1));  // a failed ack
    return well_behaved(request, payload, fds);
  }};
  auto backend = attach(fake);
  ASSERT_TRUE(backend) << backend.error().message;
  const FileDescriptor notify{::eventfd(0, EFD_CLOEXEC)};
  const StartedQueue queues[] = {{0, {8, 0x10000, 0x11000, 0x12000}, notify.get()}};
  RecordingEvents events;
  const auto started = (*backend)->start(kFeatureVersion1, queues, events);
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().message, "test backend: the backend refused SET_VRING_ADDR");
  ASSERT_EQ(failures().size(), 1u) << "the run ends";
  EXPECT_EQ(failures()[0], "test backend: the backend refused SET_VRING_ADDR");
}

TEST_F(VhostUserBackendTest, ABackendThatClosesItsSocketIsReportedByName) {
  FakeBackend fake{well_behaved};
  auto backend = attach(fake);
  ASSERT_TRUE(backend) << backend.error().message;
  fake.close();
  for (int i = 0; i < 500 && failures().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_EQ(failures().size(), 1u);
  EXPECT_EQ(failures()[0], "test backend: the backend closed its socket");
}

TEST_F(VhostUserBackendTest, AMalformedReplyFailsTheSetUpWithAClearError) {
  FakeBackend fake{[](Request request, const std::vector<uint8_t>& payload, size_t fds) {
    if (request == Request::kGetFeatures) return reply(request, {1, 2, 3});  // 3 bytes, not 8
    return well_behaved(request, payload, fds);
  }};
  auto backend = attach(fake);
  ASSERT_FALSE(backend);
  EXPECT_NE(backend.error().message.find("carries 3 bytes, not 8"), std::string::npos) << backend.error().message;
}

TEST_F(VhostUserBackendTest, ABackendThatStopsAnsweringFailsWithinTheTimeout) {
  // It answers the first request (which may wait longer, for a backend
  // still starting) and then nothing.
  FakeBackend fake{[](Request request, const std::vector<uint8_t>& payload, size_t fds) {
    return request == Request::kGetFeatures ? well_behaved(request, payload, fds) : std::vector<uint8_t>{};
  }};
  const auto started = std::chrono::steady_clock::now();
  auto backend = attach(fake);
  const auto waited = std::chrono::steady_clock::now() - started;
  ASSERT_FALSE(backend);
  EXPECT_NE(backend.error().message.find("did not answer GET_PROTOCOL_FEATURES within 5 s"), std::string::npos)
      << backend.error().message;
  EXPECT_LT(waited, VhostUserTiming{}.reply + std::chrono::seconds(2));
}

TEST_F(VhostUserBackendTest, ALiveBackendIsAskedForItsFeaturesWhileTheGuestRunsAndNothingFails) {
  FakeBackend fake{well_behaved};
  auto backend = attach(fake, quick_liveness());
  ASSERT_TRUE(backend) << backend.error().message;
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  const auto requests = fake.requests();
  EXPECT_GE(std::count(requests.begin(), requests.end(), Request::kGetFeatures), 3) << "one at set-up, then every 100 ms";
  EXPECT_TRUE(failures().empty()) << failures()[0];
}

TEST_F(VhostUserBackendTest, ABackendThatHangsWhileTheGuestRunsIsReportedByName) {
  // Set-up goes well; later GET_FEATURES go unanswered (a stopped process).
  std::atomic<int> asked{0};
  FakeBackend fake{[&asked](Request request, const std::vector<uint8_t>& payload, size_t fds) {
    if (request == Request::kGetFeatures && asked++ > 0) return std::vector<uint8_t>{};
    return well_behaved(request, payload, fds);
  }};
  auto backend = attach(fake, quick_liveness());
  ASSERT_TRUE(backend) << backend.error().message;
  wait_for_failure();
  ASSERT_EQ(failures().size(), 1u);
  EXPECT_EQ(failures()[0], "test backend: the backend closed its socket or did not answer GET_FEATURES within 300 ms");
}

TEST_F(VhostUserBackendTest, AMalformedReplyWhileTheGuestRunsIsReportedByName) {
  std::atomic<int> asked{0};
  FakeBackend fake{[&asked](Request request, const std::vector<uint8_t>& payload, size_t fds) {
    if (request == Request::kGetFeatures && asked++ > 0) return reply(request, {1, 2, 3});
    return well_behaved(request, payload, fds);
  }};
  auto backend = attach(fake, quick_liveness());
  ASSERT_TRUE(backend) << backend.error().message;
  wait_for_failure();
  ASSERT_EQ(failures().size(), 1u);
  EXPECT_NE(failures()[0].find("test backend: "), std::string::npos) << failures()[0];
  EXPECT_NE(failures()[0].find("carries 3 bytes, not 8"), std::string::npos) << failures()[0];
}

TEST_F(VhostUserBackendTest, FeaturesThatChangeWhileTheGuestRunsAreReported) {
  std::atomic<int> asked{0};
  FakeBackend fake{[&asked](Request request, const std::vector<uint8_t>& payload, size_t fds) {
    if (request == Request::kGetFeatures && asked++ > 0) return reply(request, u64_payload(kFeatureVersion1));
    return well_behaved(request, payload, fds);
  }};
  auto backend = attach(fake, quick_liveness());
  ASSERT_TRUE(backend) << backend.error().message;
  wait_for_failure();
  ASSERT_EQ(failures().size(), 1u);
  EXPECT_EQ(failures()[0], "test backend: the backend's features changed while the guest ran");
}

TEST_F(VhostUserBackendTest, ThroughTheCourierTheRingsDescriptorsStillArrive) {
  // As under seccomp: the courier, not ember, sends from the start on.
  FakeBackend fake{well_behaved};
  auto backend = attach(fake);
  ASSERT_TRUE(backend) << backend.error().message;
  const FileDescriptor notify{::eventfd(0, EFD_CLOEXEC)};
  auto lendable = (*backend)->lendable_fds();
  lendable.push_back(notify.get());
  auto courier = FdCourier::start(lendable);
  ASSERT_TRUE(courier) << courier.error().message;
  (*backend)->send_through(*courier);
  const size_t before = fake.received_fds().size();
  const StartedQueue queues[] = {{1, {8, 0x10000, 0x11000, 0x12000}, notify.get()}};
  RecordingEvents events;
  ASSERT_TRUE((*backend)->start(kFeatureVersion1, queues, events));
  const auto fds = fake.received_fds();
  ASSERT_EQ(fds.size(), before + 2) << "the kick and the call eventfd";
  // The kick the backend got is the notify eventfd: signalled through its copy.
  const uint64_t one = 1;
  ASSERT_EQ(::write(fds[before], &one, sizeof one), 8);
  uint64_t count = 0;
  EXPECT_EQ(::read(notify.get(), &count, sizeof count), 8);
  (*backend)->stop();
  EXPECT_EQ(fake.requests().back(), Request::kGetVringBase);
  EXPECT_TRUE(failures().empty());
}

TEST_F(VhostUserBackendTest, PrivateGuestMemoryCannotBeShared) {
  GuestMemory private_memory = std::move(GuestMemory::create(ram_regions_for(16 << 20)).value());
  FakeBackend fake{well_behaved};
  auto backend = VhostUserBackend::attach(fake.take_ember_end(), "test backend", private_memory, 2, nullptr);
  ASSERT_FALSE(backend);
  EXPECT_NE(backend.error().message.find("not shareable"), std::string::npos) << backend.error().message;
}

}  // namespace
}  // namespace ember::virtio
