// Turning an attempt's result file into the backend event the scheduler
// reads. Shared by every backend: the result file is the authority on how an
// attempt ended, whatever ran it.
#pragma once

#include "backend/backend.h"
#include "exec/attempt.h"

namespace porch {

BackendEvent EventFromResult(Dag::Index index, int attempt, const AttemptResult& r);

// The event a backend reports when it has started an attempt.
BackendEvent StartedEvent(Dag::Index index, int attempt, double time);

}  // namespace porch
