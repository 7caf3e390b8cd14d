#include "backend/polling_backend.h"

#include <algorithm>

namespace porch {

void PollingBackend::PollSoon(double within_s) {
  next_poll_ = std::min(next_poll_, clock_->Now() + within_s);
}

void PollingBackend::PollNow(std::vector<BackendEvent>* events) {
  Poll(events);
  next_poll_ = clock_->Now() + PollInterval();
}

std::vector<BackendEvent> PollingBackend::Wait(double deadline) {
  std::vector<BackendEvent> events = std::move(pending_);
  pending_.clear();
  if (PollIsCheap() || clock_->Now() >= next_poll_) PollNow(&events);
  while (events.empty()) {
    const double now = clock_->Now();
    if (now >= deadline) break;
    const double until = std::min(deadline, next_poll_);
    clock_->SleepUntilReadable(until, WakeFd());
    const bool woken = clock_->Now() < until;  // a signal
    // Woken by a signal, or by the backend's descriptor (something to look
    // at: a look now, even if looks are dear).
    if (clock_->Now() >= next_poll_ || (woken && (PollIsCheap() || WakeFd() >= 0))) PollNow(&events);
    if (woken) break;  // let the scheduler look (Ctrl-C)
  }
  // Events a Poll queued through Emit() go out now too.
  for (BackendEvent& ev : pending_) events.push_back(std::move(ev));
  pending_.clear();
  return events;
}

}  // namespace porch
