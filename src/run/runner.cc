#include "run/runner.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <nlohmann/json.hpp>
#include <memory>
#include <random>
#include <unistd.h>

#include "exec/spawner.h"
#include "journal/journal.h"
#include "model/json_fields.h"
#include "model/usage.h"
#include "plan/dag.h"
#include "plan/plan_parser.h"
#include "plan/validate.h"
#include "platform/file_lock.h"
#include "platform/files.h"
#include "report/html_report.h"
#include "run/merge.h"
#include "report/metrics.h"

namespace porch {

RetryOptions ToRetryOptions(const RetryConfig& c) {
  RetryOptions o;
  o.max_retries = c.max_retries;
  o.backoff.initial_s = c.retry_delay_seconds;
  o.backoff.multiplier = c.exponential_backoff ? c.backoff_multiplier : 1.0;
  o.backoff.max_s = c.max_delay_seconds;
  o.backoff.jitter = c.jitter;
  return o;
}

std::string NewRunId(double now) {
  time_t t = static_cast<time_t>(now);
  struct tm tm_utc;
  gmtime_r(&t, &tm_utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm_utc);
  std::random_device rd;
  char suffix[8];
  std::snprintf(suffix, sizeof suffix, "%04x", static_cast<unsigned>(rd() & 0xffff));
  return std::string(stamp) + "-" + suffix;
}

std::string ConfigToStoredJson(const LoadedConfig& loaded) {
  // FormatConfigJson redacts secrets; keep only what is not redacted.
  nlohmann::json full = nlohmann::json::parse(FormatConfigJson(loaded));
  nlohmann::json flat = nlohmann::json::object();
  for (auto it = full.begin(); it != full.end(); ++it) {
    std::string value = it.value()["value"].get<std::string>();
    if (value == "<redacted>") continue;
    flat[it.key()] = value;
  }
  return flat.dump(2) + "\n";
}

Result<LoadedRun> LoadRun(const std::string& run_dir) {
  Result<LoadedRun> run = LoadRunPlan(run_dir);
  if (!run.ok()) return run.status();
  Result<RunState> state = LoadRunState(RunLayout(run_dir));
  if (!state.ok()) return state.status();
  run->state = std::move(*state);
  return run;
}

Result<RunState> LoadRunState(const RunLayout& layout) {
  RunState state;
  if (PathExists(layout.journal())) {  // a run created but never started has none yet
    Result<RunState> folded = FoldJournalFile(layout.journal());
    if (!folded.ok()) return folded.status();
    state = std::move(*folded);
  }
  if (state.run_id.empty()) state.run_id = layout.run_id();
  ReadPlannerSpend(layout, &state);
  return state;
}

void ReadPlannerSpend(const RunLayout& layout, RunState* state) {
  using nlohmann::json;
  Result<std::string> text = ReadFile(layout.planner_summary());
  if (!text.ok()) return;  // a plan from a file: nothing was spent on it
  const json summary = json::parse(*text, nullptr, false);
  state->planner_cost_usd = std::max(0.0, JsonNumber(summary, "cost_usd", 0));
  state->planner_tokens = Usage::FromJson(JsonObject(summary, "usage")).total();
}

Result<LoadedRun> LoadRunPlan(const std::string& run_dir) {
  RunLayout layout(run_dir);
  if (!PathExists(layout.journal()) && !PathExists(layout.plan())) {
    return Status::NotFound("'" + run_dir + "' is not a porch run directory (no journal.log)");
  }
  LoadedRun run;
  run.run_dir = run_dir;
  Result<Plan> plan = LoadPlanFile(layout.plan());
  if (!plan.ok()) return plan.status().Annotate("run '" + run_dir + "'");
  run.plan = std::move(*plan);
  PORCH_RETURN_IF_ERROR(ValidatePlan(run.plan).Annotate("run '" + run_dir + "'"));
  ConfigLoader loader;
  if (PathExists(layout.config())) PORCH_RETURN_IF_ERROR(loader.ApplyFile(layout.config()));
  run.config = loader.loaded();
  return run;
}

int HighestAttemptOnDisk(const RunLayout& layout, const std::string& task_id) {
  Result<std::vector<std::string>> names = ListDir(layout.task_dir(task_id));
  if (!names.ok()) return 0;
  int highest = 0;
  for (const std::string& name : *names) {
    if (name.rfind("attempt-", 0) != 0) continue;
    int n = 0;
    const char* first = name.data() + 8;
    const char* last = name.data() + name.size();
    auto [end, ec] = std::from_chars(first, last, n);
    if (ec == std::errc() && end == last && n > highest && n <= kMaxAttemptNumber) highest = n;
  }
  return highest;
}

namespace {

// The highest attempt number a task used, from its attempt directories and
// from the local spawner's log (a command attempt that printed nothing has
// no directory).
std::function<int(const std::string&)> AttemptsOnDisk(const RunLayout& layout) {
  auto spawned = std::make_shared<std::map<std::string, int>>(HighestSpawnedAttempts(layout.dir()));
  return [layout, spawned](const std::string& id) {
    auto it = spawned->find(id);
    return std::max(HighestAttemptOnDisk(layout, id), it == spawned->end() ? 0 : it->second);
  };
}

}  // namespace

std::vector<JournalRecord> ReconcileWithDisk(const Plan& plan, RunState* state,
                                             const std::function<int(const std::string&)>& on_disk,
                                             double now) {
  std::vector<JournalRecord> added;
  for (const Task& t : plan.tasks) {
    const int highest = on_disk(t.id);
    TaskRecord& rec = state->tasks[t.id];
    const int journaled = rec.attempts.empty() ? 0 : rec.attempts.back().number;
    if (highest <= journaled) continue;
    rec.attempts_on_disk = highest;
    const bool settled = rec.state == TaskState::kSucceeded || rec.state == TaskState::kFailed ||
                         rec.state == TaskState::kSkipped;
    if (settled) continue;  // only the numbering moves on
    // The journal lost the launches of these attempts (cut short, or its
    // last writes never reached the disk): journal them again, the last as
    // in flight so that resume re-adopts it (its result file, its process)
    // instead of running the task a second time.
    for (int a = journaled + 1; a <= highest; ++a) {
      JournalRecord launch;
      launch.type = JournalRecord::Type::kLaunching;
      launch.time = now;
      launch.task = t.id;
      launch.attempt = a;
      launch.detail = "attempt directory found on disk; the journal had lost its launch";
      added.push_back(launch);
      if (a == highest) break;
      JournalRecord lost = launch;
      lost.type = JournalRecord::Type::kFinished;
      lost.reason = FailureReason::kLost;
      lost.decision = Decision::kRequeue;
      lost.detail = "an earlier attempt the journal had lost";
      added.push_back(lost);
    }
  }
  for (const JournalRecord& r : added) state->Apply(r);
  return added;
}

Status WriteRunReport(const LoadedRun& run) {
  return WriteRunReport(RunLayout(run.run_dir), run.plan, run.state, run.config.config);
}

Status WriteRunReport(const RunLayout& layout, const Plan& plan, const RunState& state, const Config& config) {
  Dag dag(plan);
  RunMetrics m = ComputeMetrics(plan, dag, state, config.max_executors);
  m.cluster_name = config.aws.cluster_name;
  m.region = config.aws.region;
  m.bucket = config.aws.s3_bucket;
  PORCH_RETURN_IF_ERROR(
      WriteFileAtomicFrom(layout.metrics(), [&m](const AppendFn& append) { return WriteMetricsJson(m, append); }));
  return WriteFileAtomic(layout.report(), RenderReport(plan, dag, m));
}

namespace {

// The report drawn from what the journal says, read back record by record;
// the plan is the one in hand (not parsed again).
Status ReportFromJournal(const RunLayout& layout, const Plan& plan, const Config& config) {
  Result<RunState> state = LoadRunState(layout);
  if (!state.ok()) return state.status();
  return WriteRunReport(layout, plan, *state, config);
}

}  // namespace

Runner::Runner(Clock* clock, BackendFactory factory, SchedulerListener* listener,
               std::function<bool()> stop_requested)
    : clock_(clock),
      factory_(std::move(factory)),
      listener_(listener),
      stop_requested_(std::move(stop_requested)) {}

Result<std::string> Runner::Create(const Plan& plan, const LoadedConfig& config,
                                   const std::string& run_id) {
  std::string run_dir = RunLayout::RunDir(config.config.output_dir, run_id);
  RunLayout layout(run_dir);
  PORCH_RETURN_IF_ERROR(MakeDirs(run_dir));
  PORCH_RETURN_IF_ERROR(Lock(run_dir));
  // The directory may already hold the planner's answers, but never a run.
  if (PathExists(layout.plan()) || PathExists(layout.journal())) {
    return Status::AlreadyExists("run '" + run_id + "' already exists in '" + run_dir +
                                 "'; use `porch resume " + run_id +
                                 "` to continue it, or pick another --run-id");
  }
  Status made = MakeDirs(run_dir + "/tasks");
  if (made.ok()) made = MakeDirs(layout.output());
  if (made.ok()) made = WriteRunIdentity(layout, NewRunIdentity(layout, clock_->Now()));
  if (made.ok()) made = WriteFileAtomic(layout.config(), ConfigToStoredJson(config));
  // plan.json last: a run directory with a plan is one `porch resume` can continue.
  if (made.ok()) made = WriteFileAtomic(layout.plan(), PlanToJsonText(plan));
  if (!made.ok()) {
    // Not a run (no plan.json): take back what was made, and say so, since
    // there is nothing to resume.
    for (const std::string& f : {layout.identity(), layout.config()}) unlink(f.c_str());
    for (const std::string& d : {layout.output(), run_dir + "/tasks"}) rmdir(d.c_str());
    return Status::IoError("cannot create run '" + run_id + "' in '" + run_dir + "': " +
                                   made.message() +
                                   " (nothing ran and there is nothing to resume; run it again "
                                   "once the cause is fixed)");
  }
  return run_dir;
}

Result<RunOutcome> Runner::RunCreated(const std::string& run_dir, const Plan& plan,
                                      const LoadedConfig& config) {
  return Drive(run_dir, plan, config, /*resume=*/false);
}

Result<RunOutcome> Runner::Start(const Plan& plan, const LoadedConfig& config,
                                 const std::string& run_id) {
  Result<std::string> run_dir = Create(plan, config, run_id);
  if (!run_dir.ok()) return run_dir.status();
  return Drive(*run_dir, plan, config, /*resume=*/false);
}

Status Runner::Lock(const std::string& run_dir) {
  if (lock_ && locked_dir_ == run_dir) return Status::Ok();
  lock_.reset();
  Result<std::unique_ptr<FileLock>> lock = FileLock::Acquire(RunLayout(run_dir).lock());
  if (!lock.ok() && lock.status().code() == Status::Code::kUnavailable) {
    // Another porch works on it: a usage error (exit 2), nothing was changed.
    return Status::AlreadyExists("run '" + run_dir + "': " + lock.status().message());
  }
  if (!lock.ok()) return lock.status().Annotate("run '" + run_dir + "'");
  lock_ = std::move(*lock);
  locked_dir_ = run_dir;
  return Status::Ok();
}

Result<RunOutcome> Runner::Resume(const std::string& run_dir, const LoadedConfig& config) {
  if (!PathExists(RunLayout(run_dir).journal()) && !PathExists(RunLayout(run_dir).plan())) {
    return Status::NotFound("'" + run_dir + "' is not a porch run directory (no journal.log)");
  }
  PORCH_RETURN_IF_ERROR(Lock(run_dir));
  Result<LoadedRun> run = LoadRun(run_dir);
  if (!run.ok()) return run.status();
  // Record the flags given to resume, so a later resume sees them too.
  PORCH_RETURN_IF_ERROR(WriteFileAtomic(RunLayout(run_dir).config(), ConfigToStoredJson(config)));
  return Drive(run_dir, run->plan, config, /*resume=*/true);
}

Result<RunOutcome> Runner::Drive(const std::string& run_dir, const Plan& plan,
                                 const LoadedConfig& loaded, bool resume) {
  Result<RunOutcome> out = DriveLocked(run_dir, plan, loaded, resume);
  lock_.reset();  // the run is over (or stopped): another porch may take it
  locked_dir_.clear();
  return out;
}

Result<RunOutcome> Runner::DriveLocked(const std::string& run_dir, const Plan& plan,
                                       const LoadedConfig& loaded, bool resume) {
  const Config& config = loaded.config;
  RunLayout layout(run_dir);
  PORCH_RETURN_IF_ERROR(Lock(run_dir));
  Result<RunIdentity> identity = EnsureRunIdentity(layout, clock_->Now());
  if (!identity.ok()) return identity.status();

  // The scheduler, the backend, the DAG and the journal's records live in
  // this block: they are gone before the run is read back for the report
  // (a 100,000-task run would otherwise hold both at once).
  std::string run_id;
  Result<RunSummary> summary = Status::Internal("the run did not start");
  {
    std::vector<JournalRecord> existing;
    Result<std::unique_ptr<FileJournal>> journal = FileJournal::Open(layout.journal(), &existing);
    if (!journal.ok()) return journal.status();
    // A run that was created but never started (its backend could not start,
    // porch died before the first record): resuming it starts it.
    if (resume && existing.empty()) resume = false;
    RunState previous = FoldJournal(existing);
    std::vector<JournalRecord>().swap(existing);  // folded: the records are not needed again
    if (resume) {
      for (const JournalRecord& rec : ReconcileWithDisk(plan, &previous, AttemptsOnDisk(layout), clock_->Now())) {
        PORCH_RETURN_IF_ERROR((*journal)->Append(rec));
      }
    }
    // The directory names the run (a journal that lost its first record still
    // belongs to it).
    run_id = resume && !previous.run_id.empty() ? previous.run_id : layout.run_id();

    Result<std::unique_ptr<Backend>> backend = factory_(config, layout, *identity, clock_, plan);
    if (!backend.ok()) return backend.status();

    if (!resume) {
      JournalRecord rec;
      rec.type = JournalRecord::Type::kRunStarted;
      rec.time = clock_->Now();
      rec.detail = run_id;
      rec.job_id = (*backend)->name();
      PORCH_RETURN_IF_ERROR((*journal)->Append(rec));
    }

    Dag dag(plan);
    SchedulerOptions options;
    options.max_executors = config.max_executors;
    options.fail_fast = config.fail_fast;
    options.default_time_limit_s = config.default_time_limit_seconds;
    options.budget_usd = config.budget.usd;
    options.budget_tokens = config.budget.tokens;
    ReadPlannerSpend(layout, &previous);
    options.planner_usd = previous.planner_cost_usd;
    options.planner_tokens = previous.planner_tokens;
    options.early_dependents = (*backend)->capabilities().holds_dependents;
    options.queue_ahead = (*backend)->capabilities().queues_ahead;
    OutputMerger merger(&plan, layout, config.merge);
    Scheduler scheduler(plan, dag, backend->get(), journal->get(), clock_,
                        RetryPolicy(ToRetryOptions(config.retry)), options, listener_,
                        stop_requested_, &merger);
    if (resume) scheduler.Restore(previous);
    summary = scheduler.Run();
    Status closed = (*backend)->Close();
    if (summary.ok() && !closed.ok()) summary = closed;
    if (!summary.ok()) {
      return summary.status().Annotate("run '" + run_id + "' stopped (resume it with `porch resume " +
                                       run_id + "` once the cause is fixed)");
    }
    journal->reset();  // flush and close before reading it back
  }

  RunOutcome outcome;
  outcome.run_id = run_id;
  outcome.run_dir = run_dir;
  outcome.summary = *summary;
  outcome.report_path = layout.report();
  outcome.metrics_path = layout.metrics();
  outcome.max_executors = config.max_executors;
  PORCH_RETURN_IF_ERROR(ReportFromJournal(layout, plan, config).Annotate("writing the report"));
  return outcome;
}

}  // namespace porch
