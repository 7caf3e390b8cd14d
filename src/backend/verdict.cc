#include "backend/verdict.h"

namespace porch {

BackendEvent EventFromResult(Dag::Index index, int attempt, const AttemptResult& r) {
  BackendEvent ev;
  ev.kind = BackendEvent::Kind::kFinished;
  ev.index = index;
  ev.attempt = attempt;
  ev.time = r.finished_at;
  ev.started_at = r.started_at;
  ev.exit_code = r.exit_code;
  ev.reason = r.reason;
  ev.detail = r.detail;
  ev.cost_usd = r.cost_usd;
  ev.tokens = r.usage.total();
  return ev;
}

bool IngestResultFile(const RunLayout& layout, const InFlight& f, std::vector<BackendEvent>* out) {
  Result<AttemptResult> r = ReadAttemptResult(layout.result_path(f.task->id, f.attempt));
  if (!r.ok()) return false;
  out->push_back(EventFromResult(f.index, f.attempt, *r));
  return true;
}

BackendEvent StartedEvent(Dag::Index index, int attempt, double time) {
  BackendEvent ev;
  ev.kind = BackendEvent::Kind::kStarted;
  ev.index = index;
  ev.attempt = attempt;
  ev.time = time;
  return ev;
}

}  // namespace porch
