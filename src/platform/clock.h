// The clock seam. The scheduler and backends read time and sleep only
// through a Clock, so tests drive them with FakeClock and no real waiting.
#pragma once

namespace porch {

class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock seconds since the Unix epoch.
  virtual double Now() = 0;
  // Sleeps until `deadline` (as Now()). May return early when a signal
  // arrives (SIGCHLD, SIGINT...): callers re-check their condition.
  virtual void SleepUntil(double deadline) = 0;
  // SleepUntil, returning early also when `fd` becomes readable. Clocks
  // that cannot watch a descriptor (fakes) just sleep.
  virtual void SleepUntilReadable(double deadline, int fd) {
    (void)fd;
    SleepUntil(deadline);
  }
};

// Wall-clock seconds since the Unix epoch (what RealClock::Now returns), for
// code that runs without a Clock: the attempt runner in its own process.
double WallSeconds();
// Seconds on a clock that never jumps: for measuring intervals and timeouts.
double MonotonicSeconds();

// The system clock. SleepUntil unblocks all signals while it sleeps, so a
// signal blocked elsewhere (see platform/signals.h) wakes it at once.
class RealClock : public Clock {
 public:
  double Now() override;
  void SleepUntil(double deadline) override;
  void SleepUntilReadable(double deadline, int fd) override;
};

}  // namespace porch
