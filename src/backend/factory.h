// Creates the backend a run asks for (the seed's Backend Factory). An
// unknown name is an error, never a silent fallback.
#pragma once

#include <memory>

#include "backend/backend.h"
#include "config/config.h"
#include "platform/clock.h"
#include "run/run_layout.h"

namespace porch {

Result<std::unique_ptr<Backend>> CreateBackend(const Config& config, const RunLayout& layout,
                                               Clock* clock);

}  // namespace porch
