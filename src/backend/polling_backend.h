// The one Wait loop, shared by every backend (the shape of Snakemake's
// remote-executor base class): a backend only answers "what happened to my
// attempts since the last look" (Poll); the base decides when to look, how
// long to sleep, and when to hand events to the scheduler.
//
// Contract of Wait(deadline), as Backend requires: returns the events that
// happened (those queued by Emit() first), or an empty list at the
// deadline; returns early when a signal wakes the sleep (a Ctrl-C the
// scheduler must see at once). Never sleeps past the deadline.
//
// Threading: the scheduler's thread only, like every Backend call.
#pragma once

#include <vector>

#include "model/backend.h"
#include "platform/clock.h"

namespace porch {

class PollingBackend : public Backend {
 public:
  std::vector<BackendEvent> Wait(double deadline) final;

 protected:
  // `clock` is not owned and must outlive the backend.
  explicit PollingBackend(Clock* clock) : clock_(clock) {}

  // One look at the attempts in flight: appends what happened.
  virtual void Poll(std::vector<BackendEvent>* events) = 0;
  // Seconds between looks.
  virtual double PollInterval() const = 0;
  // Whether a look is cheap enough to take at the start of every Wait and
  // right after a signal woke the sleep (local processes: waitpid; SIGCHLD
  // is the signal). Backends that ask a daemon answer false.
  virtual bool PollIsCheap() const { return false; }
  // A descriptor that becomes readable when there is something to look at
  // (the local spawner's socket): the sleep ends at once. -1: none.
  virtual int WakeFd() const { return -1; }

  // Queues an event for the next Wait (e.g. kStarted from Submit).
  void Emit(BackendEvent ev) { pending_.push_back(std::move(ev)); }
  // Takes the next look no later than `within_s` from now (after a submit,
  // a cancel).
  void PollSoon(double within_s = 0);

  Clock* clock_;

 private:
  void PollNow(std::vector<BackendEvent>* events);

  std::vector<BackendEvent> pending_;
  double next_poll_ = 0;
};

}  // namespace porch
