// A clock that moves only when told to (or when someone sleeps on it).
#pragma once

#include <algorithm>

#include "platform/clock.h"

namespace porch {

class FakeClock : public Clock {
 public:
  explicit FakeClock(double start = 1'000'000.0) : now_(start) {}
  double Now() override { return now_; }
  void SleepUntil(double deadline) override {
    now_ = std::max(now_, deadline);
    ++sleeps;
  }
  void Advance(double seconds) { now_ += seconds; }
  void Set(double t) { now_ = std::max(now_, t); }
  int sleeps = 0;

 private:
  double now_;
};

}  // namespace porch
