// Signal handling for porch's main loop, in the style of Ninja's
// subprocess code: SIGINT, SIGTERM, SIGHUP and SIGCHLD are blocked while
// porch works and unblocked only inside RealClock::SleepUntil (ppoll), so a
// Ctrl-C or a child's exit can never slip between a check and a sleep.
//
// This file owns porch's only process-wide mutable state: the flag the
// signal handler sets. A signal handler cannot reach anything else.
#pragma once

#include <signal.h>

namespace porch {

class SignalGuard {
 public:
  // Installs the handlers and blocks the signals. One at a time per process.
  SignalGuard();
  // Restores the previous handlers and mask.
  ~SignalGuard();
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;

  // True once SIGINT, SIGTERM or SIGHUP arrived.
  static bool interrupted();
  // The signal that interrupted (SIGINT...), or 0.
  static int interrupt_signal();
  // How many of those signals arrived (a second one asks for more haste).
  static int interrupt_count();

 private:
  sigset_t old_mask_;
  struct sigaction old_int_, old_term_, old_hup_, old_chld_;
};

}  // namespace porch
