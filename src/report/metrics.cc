#include "report/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

namespace porch {

namespace {

// Gives each attempt the lowest-numbered slot free at its start, so the
// timeline shows how the executors were used.
int AssignSlots(std::vector<TaskMetrics>* tasks) {
  std::vector<AttemptSpan*> spans;
  for (TaskMetrics& t : *tasks) {
    for (AttemptSpan& a : t.attempts) spans.push_back(&a);
  }
  std::stable_sort(spans.begin(), spans.end(),
                   [](const AttemptSpan* a, const AttemptSpan* b) { return a->start < b->start; });
  std::vector<double> slot_free_at;
  for (AttemptSpan* a : spans) {
    size_t slot = 0;
    while (slot < slot_free_at.size() && slot_free_at[slot] > a->start + 1e-9) ++slot;
    if (slot == slot_free_at.size()) slot_free_at.push_back(0);
    slot_free_at[slot] = a->end;
    a->slot = static_cast<int>(slot);
  }
  return static_cast<int>(slot_free_at.size());
}

}  // namespace

namespace {

// When the run's first attempt began and its last one ended.
std::pair<double, double> RunSpan(const RunState& state) {
  double first = std::numeric_limits<double>::infinity(), last = 0;
  for (const auto& [id, rec] : state.tasks) {
    for (const AttemptRecord& a : rec.attempts) {
      double s = a.started_at > 0 ? a.started_at : a.launched_at;
      if (s > 0) first = std::min(first, s);
      if (a.finished) last = std::max(last, a.finished_at);
    }
  }
  if (!std::isfinite(first)) first = state.started_at;
  return {first, last};
}

// One task's figures; times relative to `first`.
TaskMetrics TaskFigures(const Task& t, const RunState& state, double first, double last) {
  TaskMetrics tm;
  tm.id = t.id;
  tm.title = t.title;
  auto it = state.tasks.find(t.id);
  if (it == state.tasks.end()) return tm;
  const TaskRecord& rec = it->second;
  tm.state = rec.state;
  tm.skip_reason = rec.skip_reason;
  for (const AttemptRecord& a : rec.attempts) {
    AttemptSpan span;
    span.attempt = a.number;
    double s = a.started_at > 0 ? a.started_at : a.launched_at;
    span.start = s - first;
    span.end = (a.finished ? a.finished_at : std::max(last, s)) - first;
    span.outcome = !a.finished ? "running"
                   : a.reason == FailureReason::kNone ? "ok"
                                                      : FailureReasonName(a.reason);
    span.job_id = a.job_id;
    span.exit_code = a.exit_code;
    span.detail = a.detail;
    span.cost_usd = a.cost_usd;
    span.tokens = a.tokens;
    tm.cost_usd += a.cost_usd;
    tm.tokens += a.tokens;
    tm.duration += std::max(0.0, span.end - span.start);
    tm.attempts.push_back(span);
  }
  if (!tm.attempts.empty()) {
    tm.start = tm.attempts.front().start;
    tm.end = tm.attempts.back().end;
  }
  return tm;
}

// The dependency chain with the most time on it, using each task's final
// attempt duration.
void CriticalPath(const Plan& plan, const Dag& dag, RunMetrics* m) {
  std::vector<Dag::Index> order = dag.TopologicalOrder();
  std::vector<double> best(dag.size(), 0);
  std::vector<int64_t> prev(dag.size(), -1);
  int64_t end_task = -1;
  double end_value = -1;
  for (Dag::Index i : order) {
    const TaskMetrics& tm = m->tasks[i];
    double own = tm.attempts.empty() ? 0 : tm.attempts.back().end - tm.attempts.back().start;
    double from = 0;
    for (Dag::Index d : dag.deps(i)) {
      if (best[d] > from) {
        from = best[d];
        prev[i] = d;
      }
    }
    best[i] = from + own;
    if (best[i] > end_value) {
      end_value = best[i];
      end_task = i;
    }
  }
  m->critical_path = std::max(0.0, end_value);
  for (int64_t i = end_task; i >= 0; i = prev[i]) m->critical_path_tasks.push_back(plan.tasks[i].id);
  std::reverse(m->critical_path_tasks.begin(), m->critical_path_tasks.end());
}

}  // namespace

RunMetrics ComputeMetrics(const Plan& plan, const Dag& dag, const RunState& state,
                          int max_executors) {
  RunMetrics m;
  m.run_id = state.run_id;
  m.backend = state.backend;
  m.max_executors = max_executors;
  m.outcome = state.outcome.empty() ? "incomplete" : state.outcome;
  const auto [first, last] = RunSpan(state);
  m.started_at = first;
  m.tasks.reserve(plan.tasks.size());
  for (const Task& t : plan.tasks) {
    TaskMetrics tm = TaskFigures(t, state, first, last);
    switch (tm.state) {
      case TaskState::kSucceeded: ++m.succeeded; break;
      case TaskState::kFailed: ++m.failed; break;
      case TaskState::kSkipped: ++m.skipped; break;
      case TaskState::kCancelled: ++m.cancelled; break;
      default: ++m.pending; break;
    }
    m.total_task_time += tm.duration;
    m.cost_usd += tm.cost_usd;
    m.tokens += tm.tokens;
    m.tasks.push_back(std::move(tm));
  }
  m.planner_cost_usd = state.planner_cost_usd;
  m.planner_tokens = state.planner_tokens;
  m.cost_usd += m.planner_cost_usd;
  m.tokens += m.planner_tokens;
  m.makespan = last > first ? last - first : 0;
  m.speedup = m.makespan > 0 ? m.total_task_time / m.makespan : 0;
  m.efficiency = max_executors > 0 ? m.speedup / max_executors : 0;
  m.slots_used = AssignSlots(&m.tasks);
  CriticalPath(plan, dag, &m);
  return m;
}

Status WriteMetricsJson(const RunMetrics& m, const AppendFn& append) {
  using nlohmann::json;
  // Indented for people up to this many tasks; one line per task beyond,
  // each dumped as it is built (no document tree of 100,000 tasks).
  constexpr size_t kIndentedUpTo = 1000;
  const int indent = m.tasks.size() <= kIndentedUpTo ? 2 : -1;
  json run = {{"run_id", m.run_id},
              {"backend", m.backend},
              {"outcome", m.outcome},
              {"max_executors", m.max_executors},
              {"started_at", m.started_at},
              {"makespan_s", m.makespan},
              {"total_task_time_s", m.total_task_time},
              {"speedup", m.speedup},
              {"parallel_efficiency", m.efficiency},
              {"critical_path_s", m.critical_path},
              {"critical_path_tasks", m.critical_path_tasks},
              {"slots_used", m.slots_used},
              {"tasks_total", m.tasks.size()},
              {"succeeded", m.succeeded},
              {"failed", m.failed},
              {"skipped", m.skipped},
              {"cancelled", m.cancelled},
              {"not_run", m.pending},
              {"cost_usd", m.cost_usd},
              {"tokens", m.tokens},
              {"planner_cost_usd", m.planner_cost_usd},
              {"planner_tokens", m.planner_tokens}};
  if (m.backend == "aws") {
    run["aws"] = {{"cluster_name", m.cluster_name}, {"region", m.region}, {"bucket", m.bucket}};
  }
  PORCH_RETURN_IF_ERROR(append("{\"run\": " + run.dump(2, ' ', false, json::error_handler_t::replace) +
                               ",\n\"tasks\": ["));
  bool first = true;
  for (const TaskMetrics& t : m.tasks) {
    json attempts = json::array();
    for (const AttemptSpan& a : t.attempts) {
      attempts.push_back({{"attempt", a.attempt},
                          {"start", a.start},
                          {"end", a.end},
                          {"duration", a.end - a.start},
                          {"outcome", a.outcome},
                          {"exit_code", a.exit_code},
                          {"job_id", a.job_id},
                          {"slot", a.slot},
                          {"detail", a.detail},
                          {"cost_usd", a.cost_usd},
                          {"tokens", a.tokens}});
    }
    json jt = {{"id", t.id},
               {"state", TaskStateName(t.state)},
               {"attempts", attempts.size()},
               {"start", t.start},
               {"end", t.end},
               {"duration", t.duration},
               {"exit_code", t.attempts.empty() ? json(nullptr) : json(t.attempts.back().exit_code)},
               {"job_id", t.attempts.empty() ? "" : t.attempts.back().job_id},
               {"cost_usd", t.cost_usd},
               {"tokens", t.tokens},
               {"attempt_details", attempts}};
    if (!t.skip_reason.empty()) jt["skip_reason"] = t.skip_reason;
    // `porch resume` runs every task that has not succeeded (a running
    // attempt is re-adopted, not started again).
    jt["runs_on_resume"] = t.state != TaskState::kSucceeded && t.state != TaskState::kRunning;
    PORCH_RETURN_IF_ERROR(append((first ? "\n" : ",\n") + jt.dump(indent, ' ', false, json::error_handler_t::replace)));
    first = false;
  }
  return append("\n]}\n");
}

std::string MetricsToJson(const RunMetrics& m) {
  std::string out;
  WriteMetricsJson(m, [&out](std::string_view piece) {
    out.append(piece);
    return Status::Ok();
  }).IgnoreError();  // appending to a string cannot fail
  return out;
}

}  // namespace porch
