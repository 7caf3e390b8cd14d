#include "web/run_view.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "journal/journal.h"
#include "model/run_layout.h"
#include "platform/clock.h"

namespace porch {

using nlohmann::json;

namespace {

// An attempt's duration as far as it went (a running one: until now).
double AttemptSeconds(const AttemptRecord& a, double now) {
  const double start = a.started_at > 0 ? a.started_at : a.launched_at;
  const double end = a.finished ? a.finished_at : now;
  return start > 0 && end > start ? end - start : 0;
}

}  // namespace

RunView::RunView(LoadedRun run) : run_(std::move(run)) {
  for (size_t i = 0; i < run_.plan.tasks.size(); ++i) index_[run_.plan.tasks[i].id] = i;
  changed_at_.assign(run_.plan.tasks.size(), 0);
}

Result<std::unique_ptr<RunView>> RunView::Open(const std::string& run_dir) {
  Result<LoadedRun> run = LoadRunPlan(run_dir);
  if (!run.ok()) return run.status();
  std::unique_ptr<RunView> view(new RunView(std::move(*run)));
  std::lock_guard<std::mutex> l(view->mu_);
  PORCH_RETURN_IF_ERROR(view->ReadJournalLocked(/*from_start=*/true));
  return view;
}

Status RunView::Refresh() {
  std::lock_guard<std::mutex> l(mu_);
  return ReadJournalLocked(/*from_start=*/false);
}

Status RunView::ReadJournalLocked(bool from_start) {
  const std::string path = RunLayout(run_.run_dir).journal();
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) return Status::Ok();  // created, not started yet
  if (fd < 0) return Status::FromErrno("cannot open '" + path + "'", errno);
  struct stat st {};
  fstat(fd, &st);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (!from_start && (st.st_ino != inode_ || size < offset_)) from_start = true;  // replaced
  const uint64_t start = from_start ? 0 : offset_;
  std::string chunk(size - std::min(size, start), '\0');
  size_t got = 0;
  while (got < chunk.size()) {
    ssize_t n = pread(fd, chunk.data() + got, chunk.size() - got, static_cast<off_t>(start + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  chunk.resize(got);
  // Parsed before anything changes: a damaged journal leaves the view as it was.
  Result<ReplayResult> replay = ReplayJournal(chunk, path);
  if (!replay.ok()) return replay.status();
  if (from_start) {
    run_.state = RunState();
    totals_ = Totals();
    unfinished_.clear();
    offset_ = 0;
    inode_ = st.st_ino;
    ++seq_;
    std::fill(changed_at_.begin(), changed_at_.end(), seq_);
  }
  for (const JournalRecord& rec : replay->records) {
    auto it = index_.find(rec.task);
    if (it == index_.end()) {  // a run record, or a task the plan does not have
      run_.state.Apply(rec);
      continue;
    }
    auto old = run_.state.tasks.find(rec.task);
    if (old != run_.state.tasks.end()) Count(old->second, -1);
    run_.state.Apply(rec);
    auto now = run_.state.tasks.find(rec.task);
    if (now == run_.state.tasks.end()) continue;
    Count(now->second, +1);
    const bool under_way = !now->second.attempts.empty() && !now->second.attempts.back().finished;
    if (under_way) {
      unfinished_.insert(it->second);
    } else {
      unfinished_.erase(it->second);
    }
    changed_at_[it->second] = seq_ + 1;
  }
  if (!replay->records.empty()) ++seq_;
  offset_ += replay->valid_bytes;
  if (run_.state.run_id.empty()) run_.state.run_id = RunLayout(run_.run_dir).run_id();
  return Status::Ok();
}

uint64_t RunView::seq() const {
  std::lock_guard<std::mutex> l(mu_);
  return seq_;
}

void RunView::Count(const TaskRecord& t, int sign) {
  Totals& a = totals_;
  const size_t state = static_cast<size_t>(t.state);
  a.states[state] = static_cast<size_t>(static_cast<int64_t>(a.states[state]) + sign);
  a.tasks = static_cast<size_t>(static_cast<int64_t>(a.tasks) + sign);
  double first = 0, last = 0;
  for (const AttemptRecord& at : t.attempts) {
    const double start = at.started_at > 0 ? at.started_at : at.launched_at;
    if (start > 0 && (first == 0 || start < first)) first = start;
    if (at.finished) {
      last = std::max(last, at.finished_at);
      a.finished_time += sign * AttemptSeconds(at, 0);
    }
    a.cost_usd += sign * at.cost_usd;
    a.tokens += sign * at.tokens;
  }
  // The run's span is over the tasks' current values (as metrics computes
  // it), so a task's old values leave with it.
  auto move = [sign](std::multiset<double>& set, double v) {
    if (v <= 0) return;
    if (sign > 0) {
      set.insert(v);
    } else if (auto it = set.find(v); it != set.end()) {
      set.erase(it);
    }
  };
  move(a.starts, first);
  move(a.finishes, last);
}

json RunView::Summary() const {
  std::lock_guard<std::mutex> l(mu_);
  const double now = WallSeconds();
  const Totals& a = totals_;
  double task_time = a.finished_time;
  size_t queued = 0;  // of the running, those waiting for a slot
  for (size_t index : unfinished_) {
    auto it = run_.state.tasks.find(run_.plan.tasks[index].id);
    if (it == run_.state.tasks.end()) continue;
    queued += WaitsForSlot(it->second);
    for (const AttemptRecord& at : it->second.attempts) {
      if (!at.finished) task_time += AttemptSeconds(at, now);
    }
  }
  auto count = [&](TaskState s) { return a.states[static_cast<size_t>(s)]; };
  const double first = a.starts.empty() ? 0 : *a.starts.begin();
  const double last = !unfinished_.empty() ? now : a.finishes.empty() ? 0 : *a.finishes.rbegin();
  const double makespan = first > 0 && last > first ? last - first : 0;
  const bool running = count(TaskState::kRunning) > 0;
  json summary = {{"run_id", run_.state.run_id},
          {"backend", run_.state.backend},
          {"outcome", run_.state.outcome.empty() ? (running ? "running" : "incomplete")
                                                 : run_.state.outcome},
          {"max_executors", run_.config.config.max_executors},
          {"tasks_total", run_.plan.tasks.size()},
          {"succeeded", count(TaskState::kSucceeded)},
          {"failed", count(TaskState::kFailed)},
          {"skipped", count(TaskState::kSkipped)},
          {"cancelled", count(TaskState::kCancelled)},
          {"running", count(TaskState::kRunning) - std::min(queued, count(TaskState::kRunning))},
          {"queued", queued},
          {"pending", count(TaskState::kPending) + count(TaskState::kRetryWait) +
                          (run_.plan.tasks.size() - a.tasks)},
          {"started_at", first},
          {"makespan_s", makespan},
          {"total_task_time_s", task_time},
          {"speedup", makespan > 0 ? task_time / makespan : 0.0},
          {"cost_usd", a.cost_usd},
          {"tokens", a.tokens},
          {"seq", seq_}};
  // The queue backend's workers (a small file it rewrites every few seconds).
  if (run_.state.backend == "queue") summary["workers"] = ReadWorkersSnapshot(RunLayout(run_.run_dir));
  return summary;
}

json RunView::RowLocked(size_t index) const {
  const Task& task = run_.plan.tasks[index];
  json row = {{"index", index}, {"id", task.id}, {"title", task.title}, {"state", "pending"},
              {"attempts", 0}, {"duration", 0.0}, {"exit_code", nullptr}, {"job_id", ""},
              {"detail", ""}};
  auto it = run_.state.tasks.find(task.id);
  if (it == run_.state.tasks.end()) return row;
  const TaskRecord& t = it->second;
  const double now = WallSeconds();
  double duration = 0;
  for (const AttemptRecord& a : t.attempts) duration += AttemptSeconds(a, now);
  row["state"] = WaitsForSlot(t) ? "queued" : TaskStateName(t.state);
  row["attempts"] = t.attempts.size();
  row["duration"] = duration;
  if (!t.attempts.empty()) {
    const AttemptRecord& a = t.attempts.back();
    if (a.finished) row["exit_code"] = a.exit_code;
    row["job_id"] = a.job_id;
    row["detail"] = a.detail;
  }
  if (!t.skip_reason.empty()) row["detail"] = t.skip_reason;
  return row;
}

json RunView::Rows(size_t offset, size_t limit) const {
  std::lock_guard<std::mutex> l(mu_);
  json rows = json::array();
  const size_t n = run_.plan.tasks.size();
  for (size_t i = std::min(offset, n); i < n && rows.size() < limit; ++i) rows.push_back(RowLocked(i));
  return rows;
}

json RunView::ChangedSince(uint64_t since, size_t cap, bool* overflow) const {
  std::lock_guard<std::mutex> l(mu_);
  json rows = json::array();
  *overflow = false;
  for (size_t i = 0; i < changed_at_.size(); ++i) {
    if (changed_at_[i] <= since) continue;
    if (rows.size() >= cap) {
      *overflow = true;
      break;
    }
    rows.push_back(RowLocked(i));
  }
  return rows;
}

LoadedRun RunView::Snapshot() const {
  std::lock_guard<std::mutex> l(mu_);
  return run_;
}

int64_t RunView::IndexOf(const std::string& task_id) const {
  std::lock_guard<std::mutex> l(mu_);
  auto it = index_.find(task_id);
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

LoadedRun RunView::TaskSnapshot(size_t index) const {
  std::lock_guard<std::mutex> l(mu_);
  LoadedRun one;
  one.run_dir = run_.run_dir;
  one.config = run_.config;
  one.plan.tasks.push_back(run_.plan.tasks[index]);
  one.plan.tasks.back().depends_on.clear();
  one.state.run_id = run_.state.run_id;
  one.state.backend = run_.state.backend;
  auto it = run_.state.tasks.find(run_.plan.tasks[index].id);
  if (it != run_.state.tasks.end()) one.state.tasks[it->first] = it->second;
  return one;
}

std::vector<std::string> RunView::DependsOn(size_t index) const {
  std::lock_guard<std::mutex> l(mu_);
  return run_.plan.tasks[index].depends_on;
}

}  // namespace porch
