// Exponential backoff with a cap and jitter: the one delay rule behind every
// retry in porch (task retries, LLM requests, S3 requests, SLURM commands).
// Pure: the random source is passed in, so tests are exact.
#pragma once

namespace porch {

struct Backoff {
  double initial_s = 1.0;   // the delay after the first failure
  double multiplier = 2.0;  // each further failure multiplies it (1: constant)
  double max_s = 300.0;     // cap on one delay, before jitter
  double jitter = 0.1;      // +/- this fraction of the delay, spread by unit_random

  // The delay after `failures` failures (1-based). `unit_random` in [0, 1)
  // spreads it by +/- jitter; 0.5 gives the nominal delay. Never negative.
  double Delay(int failures, double unit_random = 0.5) const;
};

}  // namespace porch
