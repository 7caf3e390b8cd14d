#include "fakes/fake_backend.h"

#include <algorithm>

namespace porch {

std::vector<Result<std::string>> FakeBackend::Submit(std::span<const Launch> launches) {
  std::vector<Result<std::string>> out;
  for (const Launch& l : launches) {
    const std::string& id = l.task->id;
    submits.push_back({id, l.attempt, clock_->Now(), l.after, l.priority});
    if (auto it = refuse_.find(id); it != refuse_.end()) {
      out.push_back(it->second);
      continue;
    }
    FakeOutcome outcome;
    outcome.duration = default_duration;
    if (auto it = script_.find(id); it != script_.end() && !it->second.empty()) {
      size_t k = std::min<size_t>(static_cast<size_t>(l.attempt - 1), it->second.size() - 1);
      outcome = it->second[k];
    }
    std::string job_id = "fake-" + std::to_string(next_id_++);
    Job job{l.index, l.attempt, clock_->Now() + outcome.duration, outcome, clock_->Now(), job_id,
            {}};
    if (hold_dependents && !l.after.empty()) {
      job.after = l.after;
      job.finish = 1e300;  // held
    }
    running_.push_back(job);
    max_running = std::max(max_running, running_.size());
    out.push_back(job_id);
  }
  ReleaseHeld(clock_->Now());
  return out;
}

void FakeBackend::ReleaseHeld(double now) {
  for (Job& j : running_) {
    if (j.after.empty()) continue;
    bool all_ok = true, one_failed = false;
    for (const std::string& id : j.after) {
      auto it = ended_.find(id);
      if (it == ended_.end()) {
        all_ok = false;
      } else if (!it->second) {
        one_failed = true;
      }
    }
    if (one_failed) {
      j.after.clear();
      j.finish = now;
      j.outcome.reason = FailureReason::kCancelled;
      j.outcome.exit_code = -1;
    } else if (all_ok) {
      j.after.clear();
      j.started = now;
      j.finish = now + j.outcome.duration;
    }
  }
}

std::vector<BackendEvent> FakeBackend::Wait(double deadline) {
  std::vector<BackendEvent> out;
  if (running_.empty()) {
    clock_->Set(deadline);
    return out;
  }
  double first = running_.front().finish;
  for (const Job& j : running_) first = std::min(first, j.finish);
  if (first > deadline) {
    clock_->Set(deadline);
    return out;
  }
  clock_->Set(first);
  for (auto it = running_.begin(); it != running_.end();) {
    if (it->finish > first) {
      ++it;
      continue;
    }
    BackendEvent ev;
    ev.index = it->index;
    ev.attempt = it->attempt;
    ev.time = first;
    ev.started_at = it->started;
    ev.exit_code = it->outcome.exit_code;
    ev.reason = it->outcome.reason;
    ev.detail = ev.reason == FailureReason::kNone ? "" : FailureReasonName(ev.reason);
    ev.cost_usd = it->outcome.cost_usd;
    ev.tokens = it->outcome.tokens;
    out.push_back(ev);
    ended_[it->id] = ev.reason == FailureReason::kNone;
    it = running_.erase(it);
  }
  ReleaseHeld(first);
  return out;
}

void FakeBackend::Cancel(Dag::Index index, int attempt) {
  for (Job& j : running_) {
    if (j.index == index && j.attempt == attempt) {
      cancels.push_back({std::to_string(index), attempt});
      j.finish = clock_->Now();
      j.after.clear();
      j.outcome.reason = FailureReason::kCancelled;
      j.outcome.exit_code = 143;
    }
  }
}

Result<RecoverOutcome> FakeBackend::Recover(const InFlight& f) {
  recovered.push_back(f.task->id);
  if (recover_failures > 0) {
    --recover_failures;
    return Status::Unavailable("the fake engine does not answer");
  }
  auto it = recover_.find(f.task->id);
  if (it == recover_.end() || it->second.first == RecoverOutcome::kLost) {
    return RecoverOutcome::kLost;
  }
  const FakeOutcome& then = it->second.second;
  running_.push_back({f.index, f.attempt, clock_->Now() + then.duration, then, clock_->Now(),
                      f.job_id, {}});
  return RecoverOutcome::kAdopted;
}

std::vector<Result<std::string>> InstantBackend::Submit(std::span<const Launch> launches) {
  std::vector<Result<std::string>> out;
  out.reserve(launches.size());
  double now = clock_->Now();
  for (const Launch& l : launches) {
    if (on_submit) on_submit(l);
    BackendEvent ev;
    ev.index = l.index;
    ev.attempt = l.attempt;
    ev.time = now;
    ev.started_at = now;
    done_.push_back(ev);
    out.push_back(std::string("i"));
  }
  return out;
}

std::vector<BackendEvent> InstantBackend::Wait(double) {
  std::vector<BackendEvent> out;
  out.swap(done_);
  return out;
}

}  // namespace porch
