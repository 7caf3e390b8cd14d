// report.html: one self-contained page (no network) with the run's summary,
// the timeline, the DAG and a table of tasks.
#pragma once

#include <string>

#include "plan/dag.h"
#include "report/metrics.h"

namespace porch {

std::string RenderReport(const Plan& plan, const Dag& dag, const RunMetrics& m);

// The report's CSS, shared with the live dashboard so both look alike.
const char* ReportStyle();

}  // namespace porch
