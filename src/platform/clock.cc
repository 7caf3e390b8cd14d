#include "platform/clock.h"

#include <poll.h>
#include <signal.h>
#include <time.h>

#include <cmath>

namespace porch {

namespace {

double Seconds(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

}  // namespace

double WallSeconds() { return Seconds(CLOCK_REALTIME); }
double MonotonicSeconds() { return Seconds(CLOCK_MONOTONIC); }

double RealClock::Now() { return WallSeconds(); }

void RealClock::SleepUntil(double deadline) { SleepUntilReadable(deadline, -1); }

void RealClock::SleepUntilReadable(double deadline, int fd) {
  double wait = deadline - Now();
  if (wait <= 0) return;
  timespec ts;
  ts.tv_sec = static_cast<time_t>(wait);
  ts.tv_nsec = static_cast<long>((wait - std::floor(wait)) * 1e9);
  sigset_t none;
  sigemptyset(&none);
  pollfd p{fd, POLLIN, 0};
  ppoll(fd >= 0 ? &p : nullptr, fd >= 0 ? 1 : 0, &ts, &none);  // EINTR on a signal is the point
}

}  // namespace porch
