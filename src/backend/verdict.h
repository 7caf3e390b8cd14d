// Turning an attempt's result file into the backend event the scheduler
// reads. Shared by every backend: the result file is the authority on how an
// attempt ended, whatever ran it.
#pragma once

#include "model/backend.h"
#include "model/result_file.h"
#include "model/run_layout.h"

namespace porch {

BackendEvent EventFromResult(Dag::Index index, int attempt, const AttemptResult& r);

// Recover()'s first look: when the attempt's result file exists (it ended,
// maybe while porch was down), appends its event to `out` and returns true.
bool IngestResultFile(const RunLayout& layout, const InFlight& attempt,
                      std::vector<BackendEvent>* out);

// The event a backend reports when it has started an attempt.
BackendEvent StartedEvent(Dag::Index index, int attempt, double time);

}  // namespace porch
