#include "devices/command_port.h"

#include <cstring>

namespace ember {

void CommandPort::set_command(std::string command) {
  std::lock_guard lock{mutex_};
  command_ = std::move(command);
  prepare_answer_locked();  // a restored guest rang before its snapshot: it reads at once
}

void CommandPort::prepare_answer_locked() {
    const int64_t now = wall_clock_();
    const auto length = static_cast<uint32_t>(command_.size());
    answer_.assign(sizeof now + sizeof length + command_.size(), 0);
    std::memcpy(answer_.data(), &now, sizeof now);
    std::memcpy(answer_.data() + sizeof now, &length, sizeof length);
    std::memcpy(answer_.data() + sizeof now + sizeof length, command_.data(), command_.size());
    read_at_ = 0;
}

void CommandPort::write(const Access&, std::span<const uint8_t>) {
  {
    std::lock_guard lock{mutex_};
    prepare_answer_locked();
  }
  if (on_doorbell_) on_doorbell_();
}

void CommandPort::read(const Access&, std::span<uint8_t> data) {
  std::lock_guard lock{mutex_};
  for (uint8_t& byte : data) byte = read_at_ < answer_.size() ? answer_[read_at_++] : 0;
}

}  // namespace ember
