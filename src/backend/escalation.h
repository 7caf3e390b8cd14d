// Resource escalation: a task killed for memory (or time) gets more on its
// next attempt, up to a cap. One policy for every backend that enforces
// limits (Docker, SLURM). Pure; called from the backend's thread.
#pragma once

#include <cstdint>
#include <map>

#include "core/failure.h"
#include "model/backend.h"

namespace porch {

struct EscalationOptions {
  double memory_factor = 2;          // after an OOM kill; 1 or less: no escalation
  uint64_t max_memory_bytes = 64ull << 30;
  double time_factor = 2;            // after a TIMEOUT the backend enforced
  double max_time_s = 0;             // 0: time is not escalated
};

class ResourceEscalation {
 public:
  explicit ResourceEscalation(EscalationOptions options) : options_(options) {}

  // Counts an attempt of task `index` that ended for `reason` (kOom and
  // kTimeout count; anything else is ignored).
  void Record(Dag::Index index, FailureReason reason);

  // The memory the next attempt gets: `base` grown by the factor once per
  // OOM so far, never above max(max_memory, base). 0 stays 0 (no limit).
  uint64_t Memory(Dag::Index index, uint64_t base) const;
  // The time limit likewise, never above max(max_time, base).
  double Time(Dag::Index index, double base) const;

 private:
  EscalationOptions options_;
  std::map<Dag::Index, int> ooms_;
  std::map<Dag::Index, int> timeouts_;
};

}  // namespace porch
