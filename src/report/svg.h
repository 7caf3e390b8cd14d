// SVG drawings of a run: the timeline (Gantt per executor slot) and the DAG.
// Shared by report.html and (later) the live dashboard, so both look alike.
// Output is self-contained SVG markup; task ids are escaped.
#pragma once

#include <string>

#include "plan/dag.h"
#include "report/metrics.h"

namespace porch {

// Colour for a task state or attempt outcome (CSS colour).
const char* StateColour(const std::string& state_or_outcome);

// One row per executor slot, one bar per attempt, coloured by outcome, with
// a <title> tooltip (task, attempt, duration, outcome).
std::string GanttSvg(const RunMetrics& m);

// The DAG in layers (a task sits one layer right of its deepest dependency),
// nodes coloured by state. Plans above `max_nodes` get a note instead.
std::string DagSvg(const Plan& plan, const Dag& dag, const RunMetrics& m,
                   size_t max_nodes = 400);

}  // namespace porch
