#include "sched/scheduler.h"

#include <algorithm>
#include <cassert>

namespace porch {

namespace {

using Type = JournalRecord::Type;

// While a backend cannot say what became of an attempt (resume), ask again this often.
constexpr double kRecoverRetrySeconds = 2;
// How often launches are synced for a backend whose attempts die with the
// machine (Backend::NeedsDurableLaunches).
constexpr double kLaunchSyncSeconds = 1;

}  // namespace

Scheduler::Scheduler(const Plan& plan, const Dag& dag, Backend* backend, Journal* journal,
                     Clock* clock, RetryPolicy policy, SchedulerOptions options,
                     SchedulerListener* listener, std::function<bool()> stop_requested,
                     CompletionStage* completion)
    : plan_(plan),
      dag_(dag),
      backend_(backend),
      journal_(journal),
      clock_(clock),
      policy_(policy),
      options_(options),
      listener_(listener),
      stop_requested_(std::move(stop_requested)),
      completion_(completion) {
  spent_usd_ = options_.planner_usd;
  spent_tokens_ = options_.planner_tokens;
  const size_t n = dag.size();
  state_.assign(n, static_cast<uint8_t>(TaskState::kPending));
  started_.assign(n, 0);
  attempt_.assign(n, 0);
  failures_.assign(n, 0);
  lost_.assign(n, 0);
  waiting_on_.resize(n);
  path_len_ = dag.RemainingPathLengths();
  if (options_.early_dependents) {
    held_ = std::make_unique<HeldDependents>(dag, &state_, &waiting_on_, &path_len_);
  }
  counts_.pending = n;
  for (Dag::Index i = 0; i < n; ++i) {
    waiting_on_[i] = static_cast<uint32_t>(dag.deps(i).size());
    if (waiting_on_[i] == 0) ready_.push(ReadyKey(i));
  }
  rng_.seed(options_.jitter_seed ? options_.jitter_seed
                                 : static_cast<uint64_t>(clock_->Now() * 1e6));
}

void Scheduler::SetState(Dag::Index i, TaskState s) {
  auto bucket = [this](TaskState t) -> size_t* {
    switch (t) {
      case TaskState::kPending: return &counts_.pending;
      case TaskState::kRunning: return &counts_.running;
      case TaskState::kRetryWait: return &counts_.retry_wait;
      case TaskState::kSucceeded: return &counts_.succeeded;
      case TaskState::kFailed: return &counts_.failed;
      case TaskState::kSkipped: return &counts_.skipped;
      case TaskState::kCancelled: return &counts_.cancelled;
    }
    return nullptr;
  };
  --*bucket(state(i));
  ++*bucket(s);
  // Attempts the backend holds ahead of a free slot (queue_ahead), not
  // started yet: counted apart, so "running" is what runs.
  if (!started_[i] && state(i) == TaskState::kRunning) --counts_.queued;
  if (!started_[i] && s == TaskState::kRunning) ++counts_.queued;
  state_[i] = static_cast<uint8_t>(s);
}

void Scheduler::Restore(const RunState& run) {
  resumed_ = true;
  ready_ = {};
  const size_t n = dag_.size();
  for (Dag::Index i = 0; i < n; ++i) {
    const Task& t = plan_.tasks[i];
    auto it = run.tasks.find(t.id);
    if (it == run.tasks.end()) continue;
    const TaskRecord& rec = it->second;
    attempt_[i] = rec.last_attempt();
    for (const AttemptRecord& a : rec.attempts) {
      spent_usd_ += a.cost_usd;
      spent_tokens_ += a.tokens;
    }
    if (rec.state == TaskState::kSucceeded) {
      SetState(i, TaskState::kSucceeded);
    } else if (rec.state == TaskState::kRunning) {
      started_[i] = 1;  // an earlier porch's: running, or lost (nothing holds it now)
      SetState(i, TaskState::kRunning);
      to_recover_.push_back({i, &t, rec.attempts.back().number, rec.attempts.back().job_id});
      if (held_) held_->Restore(i, rec.attempts.back().job_id);
    }
  }
  for (Dag::Index i = 0; i < n; ++i) {
    uint32_t waiting = 0;
    for (Dag::Index d : dag_.deps(i)) waiting += state(d) != TaskState::kSucceeded;
    waiting_on_[i] = waiting;
    if (state(i) == TaskState::kPending && waiting == 0) ready_.push(ReadyKey(i));
  }
  for (Dag::Index i = 0; i < n; ++i) OfferHeld(i);
}

void Scheduler::Append(JournalRecord rec) {
  Status st = journal_->Append(rec);
  if (!st.ok() && journal_error_.ok()) journal_error_ = st;
}

void Scheduler::MakeReady(Dag::Index i) {
  ready_.push(ReadyKey(i));
  if (listener_) listener_->OnReady(i);
}

void Scheduler::PromoteDueRetries(double now) {
  while (!retries_.empty() && retries_.top().first <= now) {
    Dag::Index i = retries_.top().second;
    retries_.pop();
    if (state(i) != TaskState::kRetryWait) continue;
    SetState(i, TaskState::kPending);
    MakeReady(i);
  }
}

Status Scheduler::LaunchReady() {
  size_t launched = 0;
  PORCH_RETURN_IF_ERROR(LaunchBatch(&launched));
  // Submitting a task can make its dependents eligible to be held behind it.
  while (held_ && launched > 0 && held_->HasCandidates() && counts_.running < Cap()) {
    PORCH_RETURN_IF_ERROR(LaunchBatch(&launched));
  }
  return Status::Ok();
}

Status Scheduler::LaunchBatch(size_t* launched) {
  *launched = 0;
  std::vector<Launch> launches;
  const double now = clock_->Now();
  // Takes task i from a queue into this batch, unless the budget holds it.
  auto take = [&](Dag::Index i) {
    const Task& t = plan_.tasks[i];
    if (t.is_agent() && BudgetSpent()) {
      // No new agent work once the budget is spent; the task stays pending
      // (a resume with a larger budget continues it).
      budget_exhausted_ = true;
      return;
    }
    int attempt = ++attempt_[i];
    // Held by the backend until its kStarted, where it may hold attempts.
    started_[i] = options_.queue_ahead > 0 ? 0 : 1;
    double limit = t.resources.time_limit_s > 0 ? t.resources.time_limit_s
                                                : options_.default_time_limit_s;
    Launch l{i, &t, attempt, limit, {}, ReadyKey(i)};
    if (held_) l.after = held_->After(i);  // held launches: dependencies still running
    launches.push_back(std::move(l));
    SetState(i, TaskState::kRunning);
    JournalRecord rec;
    rec.type = Type::kLaunching;
    rec.time = now;
    rec.task = t.id;
    rec.attempt = attempt;
    Append(std::move(rec));
  };
  const size_t cap = Cap();
  while (counts_.running < cap && !ready_.empty()) {
    Dag::Index i = UINT32_MAX - static_cast<Dag::Index>(ready_.top() & 0xffffffffu);
    // An AI task is never held by the backend ahead of a free slot (the
    // budget must stop it): it waits, and what ranks below it with it.
    if (plan_.tasks[i].is_agent() && counts_.running >= static_cast<size_t>(options_.max_executors)) break;
    ready_.pop();
    if (state(i) == TaskState::kPending) take(i);
  }
  // Held launches: the backend waits for their running dependencies.
  while (held_ && counts_.running < cap) {
    std::optional<Dag::Index> i = held_->Next();
    if (!i) break;
    take(*i);
  }
  // Durable before acting: a crash after this point finds the launches in
  // the journal and asks the backend about them on resume. A turn that
  // launches nothing acts on nothing: its records are written (`porch
  // status` sees them) and made durable with the next launch or the end;
  // after a kill -9 resume finds those attempts' results again (after a
  // crash of the whole machine, an attempt that ended meanwhile may run
  // again: docs/run-layout.md).
  PORCH_RETURN_IF_ERROR(journal_error_);
  if (launches.empty()) return journal_->Write();
  PORCH_RETURN_IF_ERROR(SyncForLaunch(now));
  std::vector<Result<std::string>> ids = backend_->Submit(launches);
  assert(ids.size() == launches.size());
  bool submitted = false;
  for (size_t k = 0; k < launches.size(); ++k) {
    const Launch& l = launches[k];
    if (!ids[k].ok()) {
      PORCH_RETURN_IF_ERROR(SubmitFailed(l, ids[k].status()));
      continue;
    }
    JournalRecord rec;
    rec.type = Type::kSubmitted;
    rec.time = now;
    rec.task = l.task->id;
    rec.attempt = l.attempt;
    rec.job_id = *ids[k];
    Append(std::move(rec));
    ++*launched;
    submitted = true;
    if (listener_) listener_->OnLaunched(*l.task, l.attempt, *ids[k]);
    if (held_ && state(l.index) == TaskState::kRunning) held_->OnSubmitted(l.index, *ids[k]);
  }
  PORCH_RETURN_IF_ERROR(journal_error_);
  // A job id resume cannot do without is durable at once: after a crash of
  // the machine, a job the journal does not name would be run again.
  return backend_->NeedsDurableJobIds() && submitted ? journal_->Sync() : journal_->Write();
}

Status Scheduler::SyncForLaunch(double now) {
  if (backend_->NeedsDurableLaunches()) return journal_->Sync();
  // Written in any case: after a kill -9 of porch, resume finds every launch.
  PORCH_RETURN_IF_ERROR(journal_->Write());
  return SyncIfDue(now);
}

Status Scheduler::SyncIfDue(double now) {
  // A clock stepped back counts as due.
  if (now - last_sync_ < kLaunchSyncSeconds && now >= last_sync_) return Status::Ok();
  last_sync_ = now;
  return journal_->Sync();  // nothing new: no fdatasync
}

void Scheduler::CancelUnstarted() {
  if (options_.queue_ahead <= 0) return;  // every other backend starts what it is given
  for (Dag::Index i = 0; i < dag_.size(); ++i) {
    if (state(i) == TaskState::kRunning && !started_[i]) backend_->Cancel(i, attempt_[i]);
  }
}

Status Scheduler::SubmitFailed(const Launch& l, const Status& why) {
  const Status::Code code = why.code();
  if (code == Status::Code::kUnavailable || code == Status::Code::kInfeasible) {
    // The backend cannot work now (its daemon is gone, the engine lacks the
    // image): no task can help that, so no retry is spent. The attempt ends
    // as interrupted and the run stops, to be resumed once it is fixed.
    if (backend_error_.ok()) backend_error_ = why;
    BackendEvent ev = FailedEvent(l.index, l.attempt, clock_->Now(), FailureReason::kBackendError,
                                  "not submitted: " + why.message());
    AppendFinished(plan_.tasks[l.index], ev, Decision::kInterrupted);
    SetState(l.index, TaskState::kCancelled);
    if (held_) held_->OnEnded(l.index, false, backend_, attempt_);
    if (listener_) listener_->OnFinished(plan_.tasks[l.index], ev, TaskState::kCancelled, 0);
    return journal_error_;
  }
  FailureReason reason = code == Status::Code::kInvalidArgument ? FailureReason::kInvalidTask
                                                                : FailureReason::kBackendError;
  return Handle(FailedEvent(l.index, l.attempt, clock_->Now(), reason,
                            "submit failed: " + why.message()));
}

Status Scheduler::Handle(const BackendEvent& ev) {
  Dag::Index i = ev.index;
  if (i >= dag_.size() || ev.attempt != attempt_[i] || state(i) != TaskState::kRunning) {
    return Status::Ok();  // stale or duplicate: the attempt was already accounted for
  }
  const Task& t = plan_.tasks[i];
  if (ev.kind == BackendEvent::Kind::kStarted) {
    if (!started_[i] && counts_.queued > 0) --counts_.queued;
    started_[i] = 1;
    JournalRecord rec;
    rec.type = Type::kStarted;
    rec.time = ev.time;
    rec.task = t.id;
    rec.attempt = ev.attempt;
    Append(std::move(rec));
    return journal_error_;
  }
  if (held_ && held_->IsRequeued(i) && ev.reason != FailureReason::kNone) {
    HandleRequeued(i, ev);
    return journal_error_;
  }
  if (ev.reason == FailureReason::kNone && completion_) {
    BackendEvent passed = ev;
    completion_->OnSucceeded(t, &passed);
    Finish(i, passed);
    return journal_error_;
  }
  if (completion_ && ev.kind == BackendEvent::Kind::kFinished) {
    BackendEvent failed = ev;
    completion_->OnFailed(t, &failed);
    failed.reason = ev.reason;
    Finish(i, failed);
    return journal_error_;
  }
  Finish(i, ev);
  return journal_error_;
}

void Scheduler::HandleRequeued(Dag::Index i, const BackendEvent& ev) {
  held_->OnRequeueEnded(i);
  const Task& t = plan_.tasks[i];
  BackendEvent lost = ev;
  lost.reason = FailureReason::kLost;
  lost.detail = "held for a dependency that did not succeed; it waits for the dependency again";
  lost.cost_usd = 0;
  lost.tokens = 0;
  AppendFinished(t, lost, Decision::kRequeue);
  SetState(i, TaskState::kPending);
  for (Dag::Index d : dag_.deps(i)) {
    if (state(d) != TaskState::kFailed && state(d) != TaskState::kSkipped) continue;
    Skip(i, "dependency '" + plan_.tasks[d].id + "' failed", ev.time);
    SkipDownstream(i);
    return;
  }
  if (listener_) listener_->OnFinished(t, lost, TaskState::kPending, 0);
  if (waiting_on_[i] == 0) {
    MakeReady(i);
  } else {
    OfferHeld(i);
  }
}

void Scheduler::AppendFinished(const Task& t, const BackendEvent& ev, Decision decision) {
  JournalRecord rec;
  rec.type = Type::kFinished;
  rec.time = ev.time;
  rec.task = t.id;
  rec.attempt = ev.attempt;
  rec.exit_code = ev.exit_code;
  rec.reason = ev.reason;
  rec.detail = ev.detail;
  rec.started_at = ev.started_at;
  rec.cost_usd = ev.cost_usd;
  rec.tokens = ev.tokens;
  rec.decision = decision;
  Append(std::move(rec));
}

void Scheduler::Skip(Dag::Index i, const std::string& why, double now) {
  SetState(i, TaskState::kSkipped);
  JournalRecord rec;
  rec.type = Type::kSkipped;
  rec.time = now;
  rec.task = plan_.tasks[i].id;
  rec.detail = why;
  Append(std::move(rec));
  if (listener_) listener_->OnSkipped(plan_.tasks[i], why);
}

Decision Scheduler::Decide(Dag::Index i, const BackendEvent& ev) const {
  const Task& t = plan_.tasks[i];
  if (ev.reason == FailureReason::kNone) return Decision::kSucceeded;
  if (ev.reason == FailureReason::kCancelled) return Decision::kInterrupted;
  if (ev.reason == FailureReason::kLost && lost_[i] < options_.max_lost_resubmits) {
    // The backend lost the attempt (porch died before it started, a node
    // vanished): it runs again without charging the task's retry budget.
    return stopping_ ? Decision::kInterrupted : Decision::kRequeue;
  }
  int task_retries = t.retries ? *t.retries : -1;
  if (policy_.ShouldRetry(failures_[i] + 1, ev.reason, task_retries)) {
    // Porch is stopping: what would have been retried runs on resume instead.
    return stopping_ ? Decision::kInterrupted : Decision::kRetry;
  }
  return Decision::kFailed;
}

void Scheduler::Finish(Dag::Index i, const BackendEvent& ev) {
  const Task& t = plan_.tasks[i];
  const Decision decision = Decide(i, ev);
  AppendFinished(t, ev, decision);
  spent_usd_ += ev.cost_usd;
  spent_tokens_ += ev.tokens;
  if (ev.reason != FailureReason::kNone && ev.reason != FailureReason::kCancelled &&
      decision != Decision::kRequeue && !(ev.reason == FailureReason::kLost && stopping_)) {
    ++failures_[i];
  }
  double retry_delay = 0;
  TaskState next = TaskState::kFailed;
  switch (decision) {
    case Decision::kSucceeded:
      next = TaskState::kSucceeded;
      SetState(i, next);
      for (Dag::Index out : dag_.dependents(i)) {
        if (--waiting_on_[out] == 0 && state(out) == TaskState::kPending) {
          MakeReady(out);
        } else {
          OfferHeld(out);
        }
      }
      break;
    case Decision::kInterrupted:
      next = TaskState::kCancelled;
      SetState(i, next);
      break;
    case Decision::kRequeue:
      ++lost_[i];
      next = TaskState::kPending;
      SetState(i, next);
      if (waiting_on_[i] == 0) {
        MakeReady(i);
      } else {
        OfferHeld(i);  // a held attempt: its dependencies are not done yet
      }
      break;
    case Decision::kRetry:
      retry_delay = ScheduleRetry(i, ev);
      next = TaskState::kRetryWait;
      break;
    case Decision::kFailed:
    case Decision::kUnknown:
      next = TaskState::kFailed;
      SetState(i, next);
      if (options_.fail_fast && !halted_) {
        halted_ = true;
        CancelUnstarted();  // "nothing new": not even what the backend holds
      }
      break;
  }
  if (held_) held_->OnEnded(i, next == TaskState::kSucceeded, backend_, attempt_);
  if (listener_) listener_->OnFinished(t, ev, next, retry_delay);
  if (next == TaskState::kFailed) SkipDownstream(i);
}

double Scheduler::ScheduleRetry(Dag::Index i, const BackendEvent& ev) {
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const double delay = policy_.Delay(failures_[i], unit(rng_));
  SetState(i, TaskState::kRetryWait);
  const double when = ev.time + delay;
  retries_.push({when, i});
  JournalRecord r;
  r.type = Type::kRetryScheduled;
  r.time = ev.time;
  r.task = plan_.tasks[i].id;
  r.attempt = ev.attempt;
  r.not_before = when;
  Append(std::move(r));
  return delay;
}

void Scheduler::SkipDownstream(Dag::Index failed) {
  const std::string why = "dependency '" + plan_.tasks[failed].id + "' failed";
  std::vector<Dag::Index> queue(dag_.dependents(failed).begin(), dag_.dependents(failed).end());
  const double now = clock_->Now();
  while (!queue.empty()) {
    Dag::Index i = queue.back();
    queue.pop_back();
    if (state(i) != TaskState::kPending) continue;
    Skip(i, why, now);
    for (Dag::Index out : dag_.dependents(i)) queue.push_back(out);
  }
}

void Scheduler::RequestStop() {
  stopping_ = true;
  JournalRecord rec;
  rec.type = Type::kInterrupted;
  rec.time = clock_->Now();
  Append(std::move(rec));
  for (Dag::Index i = 0; i < dag_.size(); ++i) {
    if (state(i) == TaskState::kRunning) backend_->Cancel(i, attempt_[i]);
  }
}

bool Scheduler::Done() const {
  if (counts_.running > 0) return false;
  if (stopping_ || halted_) return true;
  // Held candidates need a running dependency, so none is left here.
  return ready_.empty() && retries_.empty();
}

Status Scheduler::StopForBackend() {
  Status why = backend_error_.ok() ? backend_->health() : backend_error_;
  if (why.ok()) return Status::Ok();
  // What is in flight stays "running" in the journal: a resumed porch asks
  // the backend about it again, and nothing is started twice.
  JournalRecord rec;
  rec.type = Type::kInterrupted;
  rec.time = clock_->Now();
  rec.detail = "the backend stopped working: " + why.message();
  Append(std::move(rec));
  PORCH_RETURN_IF_ERROR(journal_error_);
  PORCH_RETURN_IF_ERROR(journal_->Sync());
  return why;
}

Status Scheduler::RecoverInFlight() {
  for (const InFlight& f : to_recover_) {
    Result<RecoverOutcome> r = backend_->Recover(f);
    const double give_up = clock_->Now() + options_.recover_wait_s;
    // A backend that cannot tell (its engine restarts) is asked again:
    // calling the attempt lost would start a second copy of it.
    while (!r.ok() && clock_->Now() < give_up && !(stop_requested_ && stop_requested_())) {
      clock_->SleepUntil(std::min(give_up, clock_->Now() + kRecoverRetrySeconds));
      r = backend_->Recover(f);
    }
    if (!r.ok()) {
      return r.status().Annotate("re-adopting attempt " + std::to_string(f.attempt) +
                                 " of task '" + f.task->id + "' (nothing was started again)");
    }
    if (*r == RecoverOutcome::kAdopted) continue;
    PORCH_RETURN_IF_ERROR(Handle(FailedEvent(f.index, f.attempt, clock_->Now(), FailureReason::kLost,
                                             "the attempt left no trace after porch stopped")));
  }
  to_recover_.clear();
  if (held_) held_->CancelOrphans(backend_, attempt_);
  return Status::Ok();
}

RunSummary Scheduler::Summarize(double finished_at) const {
  RunSummary summary;
  summary.finished_at = finished_at;
  summary.interrupted = stopping_;
  summary.halted = halted_;
  summary.budget_exhausted = budget_exhausted_;
  summary.spent_usd = spent_usd_;
  summary.spent_tokens = spent_tokens_;
  summary.counts = counts_;
  return summary;
}

Result<RunSummary> Scheduler::Run() {
  const double started_at = clock_->Now();
  if (resumed_) {
    JournalRecord rec;
    rec.type = Type::kResumed;
    rec.time = started_at;
    Append(std::move(rec));
    PORCH_RETURN_IF_ERROR(RecoverInFlight());
  }
  while (true) {
    if (!stopping_ && stop_requested_ && stop_requested_()) RequestStop();
    PromoteDueRetries(clock_->Now());
    if (!stopping_ && !halted_) {
      PORCH_RETURN_IF_ERROR(LaunchReady());
      if (Status st = StopForBackend(); !st.ok()) return st;
    } else {
      PORCH_RETURN_IF_ERROR(journal_error_);
      PORCH_RETURN_IF_ERROR(journal_->Sync());
    }
    if (Done()) break;
    double deadline = clock_->Now() + options_.max_wait_s;
    if (!retries_.empty() && !stopping_ && !halted_) {
      deadline = std::min(deadline, retries_.top().first);
    }
    for (const BackendEvent& ev : backend_->Wait(deadline)) PORCH_RETURN_IF_ERROR(Handle(ev));
    // Where launches are not synced each, what was written is, once a second.
    if (!backend_->NeedsDurableLaunches()) PORCH_RETURN_IF_ERROR(SyncIfDue(clock_->Now()));
    if (listener_) listener_->OnTick(counts_, clock_->Now());
    if (Status st = StopForBackend(); !st.ok()) return st;
  }
  RunSummary summary = Summarize(clock_->Now());
  summary.started_at = started_at;
  JournalRecord rec;
  rec.type = Type::kRunFinished;
  rec.time = summary.finished_at;
  rec.detail = stopping_ ? "interrupted" : summary.all_succeeded() ? "succeeded" : "failed";
  Append(std::move(rec));
  PORCH_RETURN_IF_ERROR(journal_error_);
  PORCH_RETURN_IF_ERROR(journal_->Sync());
  if (listener_) listener_->OnTick(counts_, summary.finished_at);
  return summary;
}

}  // namespace porch
