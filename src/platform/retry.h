// The one retry loop: try, and on a retryable failure wait (exponential
// backoff with jitter, at least what the server asked for) and try again,
// bounded in attempts and in total time. Used by the LLM clients, the S3
// client and the SLURM client; the scheduler's task retries use the same
// Backoff rule but are timers, not a loop.
//
// Threading: runs on the caller's thread and sleeps on the Clock passed in
// (a FakeClock in tests: no real time passes).
#pragma once

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <string>

#include "core/backoff.h"
#include "core/status.h"
#include "platform/clock.h"

namespace porch {

struct RetryBudget {
  int max_attempts = 5;     // tries in all, the first included (at least 1)
  Backoff backoff;          // the delay after each failed try
  double max_total_s = 0;   // no new try starts after this long; 0: no bound
};

// What one try says.
template <typename T>
struct TryResult {
  Result<T> result = Status::Unavailable("not tried");  // ok: done
  bool retryable = false;    // not ok: trying again may help
  double retry_after_s = 0;  // the server's minimum wait; 0: none
  std::string cause;         // not ok: text for the final error (default: the status message)

  static TryResult Done(T value) { return TryResult{std::move(value)}; }
  static TryResult Fail(Status st) { return TryResult{std::move(st)}; }
  static TryResult Again(Status st, std::string cause = "", double retry_after_s = 0) {
    TryResult t{std::move(st)};
    t.retryable = true;
    t.retry_after_s = retry_after_s;
    t.cause = std::move(cause);
    return t;
  }
};

struct RetryStats {
  int attempts = 0;
  int retries = 0;
};

// Calls try_once(attempt) (attempt is 1-based) until it succeeds, fails for
// good (returned as is), or the budget is spent: then Unavailable
// "<what>: gave up after N attempts in Xs; last error: <cause>". `rng`
// spreads the delays by the backoff's jitter; null gives the nominal
// delays. `stats` (may be null) counts tries.
template <typename T>
Result<T> RetryWithBackoff(Clock& clock, std::mt19937_64* rng, const RetryBudget& budget,
                           const std::string& what,
                           const std::function<TryResult<T>(int attempt)>& try_once,
                           RetryStats* stats = nullptr) {
  const double start = clock.Now();
  const int max_attempts = std::max(1, budget.max_attempts);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  std::string last;
  int attempt = 1;
  for (;; ++attempt) {
    if (stats) ++stats->attempts;
    TryResult<T> out = try_once(attempt);
    if (out.result.ok() || !out.retryable) return std::move(out.result);
    last = out.cause.empty() ? out.result.status().message() : out.cause;
    if (attempt >= max_attempts) break;
    double delay = budget.backoff.Delay(attempt, rng ? unit(*rng) : 0.5);
    delay = std::max(delay, out.retry_after_s);
    if (budget.max_total_s > 0 && clock.Now() + delay - start > budget.max_total_s) break;
    if (stats) ++stats->retries;
    const double until = clock.Now() + delay;
    while (clock.Now() < until) clock.SleepUntil(until);
  }
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", clock.Now() - start);
  return Status::Unavailable(what + ": gave up after " + std::to_string(attempt) + " attempt" +
                             (attempt == 1 ? "" : "s") + " in " + took + "s; last error: " + last);
}

}  // namespace porch
