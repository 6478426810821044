// A device's interrupt output. Until the interrupt controllers land (issue 3)
// lines are unconnected: devices compute their level correctly, nobody sees it.
#pragma once

namespace ember {

class InterruptLine {
 public:
  virtual ~InterruptLine() = default;
  virtual void set_level(bool asserted) = 0;
};

class UnconnectedLine final : public InterruptLine {
 public:
  void set_level(bool) override {}
};

}  // namespace ember
