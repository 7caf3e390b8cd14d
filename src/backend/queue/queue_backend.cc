#include "backend/queue/queue_backend.h"

#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include <nlohmann/json.hpp>

#include "backend/aws/aws_backend.h"
#include "backend/verdict.h"
#include "queue/worker.h"
#include "model/result_file.h"
#include "platform/files.h"

namespace porch {

namespace {

constexpr char kFenceTtl[] = "604800";  // a week: longer than any run is left unresumed

// Reclaims, of the entries given, those pending longer than ARGV[1] ms:
// claimed by porch's reaper, acknowledged and deleted in one step, so a
// heartbeat that comes later finds nothing to renew. Each reclaimed entry
// is remembered in the run's set KEYS[2] ("stream|id"), so that running the
// script again (a lost reply resent) answers the same. KEYS: stream, set;
// ARGV: min idle ms, set ttl, ids.
constexpr char kReapScript[] = R"lua(
local out = {}
for i = 3, #ARGV do
  local member = KEYS[1] .. '|' .. ARGV[i]
  if redis.call('SISMEMBER', KEYS[2], member) == 1 then
    out[#out + 1] = ARGV[i]
  else
    local c = redis.call('XCLAIM', KEYS[1], 'porch-workers', 'porch-reaper', ARGV[1], ARGV[i], 'JUSTID')
    if #c > 0 then
      redis.call('XACK', KEYS[1], 'porch-workers', ARGV[i])
      redis.call('XDEL', KEYS[1], ARGV[i])
      redis.call('SADD', KEYS[2], member)
      redis.call('EXPIRE', KEYS[2], ARGV[2])
      out[#out + 1] = ARGV[i]
    end
  end
end
return out
)lua";

// Cancels an attempt: its cancel key first (a worker that claims it later
// will not run it; one running it stops at its next heartbeat); an entry no
// worker has claimed is deleted (1, remembered in the run's set, so the
// answer is the same when the script runs again). 0: the entry is gone (its
// result is on its way); -1: a worker has it. KEYS: stream, cancel key,
// set; ARGV: id, ttl.
constexpr char kCancelScript[] = R"lua(
redis.call('SET', KEYS[2], '1', 'EX', ARGV[2])
local member = 'cancelled|' .. KEYS[1] .. '|' .. ARGV[1]
if redis.call('SISMEMBER', KEYS[3], member) == 1 then return 1 end
local p = redis.call('XPENDING', KEYS[1], 'porch-workers', ARGV[1], ARGV[1], 1)
if #p > 0 then return -1 end
if redis.call('XDEL', KEYS[1], ARGV[1]) == 1 then
  redis.call('SADD', KEYS[3], member)
  redis.call('EXPIRE', KEYS[3], ARGV[2])
  return 1
end
return 0
)lua";

// After a resume, an attempt recorded without its entry id: claimed (1), or
// fenced off so no worker will ever run it (0), in one step.
constexpr char kFenceScript[] = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 1 end
redis.call('SET', KEYS[2], '1', 'EX', ARGV[1])
return 0
)lua";

std::string JobKey(const std::string& task_id, int attempt) { return task_id + "#" + std::to_string(attempt); }

}  // namespace

QueueBackend::QueueBackend(RedisClient* redis, RunLayout layout, Clock* clock, QueueBackendOptions options,
                           S3Stager* stager)
    : redis_(redis),
      clock_(clock),
      stager_(stager),
      layout_(std::move(layout)),
      options_(std::move(options)),
      names_{options_.prefix},
      connections_seen_(redis->connections()) {}

void QueueBackend::Outage(bool failed) {
  // After any break (a failed call, or a reconnect a retry hid), workers get
  // one whole visibility timeout to heartbeat again before anything of
  // theirs is reclaimed: their entries aged while nobody could renew them.
  if (failed || redis_->connections() != connections_seen_) {
    connections_seen_ = redis_->connections();
    next_reap_ = std::max(next_reap_, clock_->Now() + options_.visibility_s);
    // A Redis that restarted may have lost what it had not written (no
    // AOF, or appendfsync everysec): after the same wait, every entry is
    // looked for again, and the result stream made again if it is gone.
    check_adopted_ = !jobs_.empty();
    check_after_ = clock_->Now() + options_.visibility_s;
    results_made_ = false;
  }
  if (!failed) {
    outage_since_ = 0;
  } else if (outage_since_ == 0) {
    outage_since_ = clock_->Now();
  }
}

Status QueueBackend::health() const {
  if (outage_since_ > 0 && clock_->Now() - outage_since_ > options_.wait_s) {
    return Status::Unavailable("Redis has not answered for " + std::to_string(static_cast<int>(options_.wait_s)) +
                               " s (queue.wait_seconds); the attempts in flight are kept in the queue");
  }
  return Status::Ok();
}

Status QueueBackend::EnsureGroup(const std::string& stream) {
  if (groups_.count(stream) > 0) return Status::Ok();
  Result<RedisReply> r = redis_->Command({"XGROUP", "CREATE", stream, kQueueGroup, "0", "MKSTREAM"});
  if (!r.ok()) return r.status();
  if (r->is_error() && r->str.find("BUSYGROUP") == std::string::npos) {
    return Status::Unavailable("creating the consumer group of " + stream + ": " + r->str);
  }
  groups_.insert(stream);
  return Status::Ok();
}

Status QueueBackend::EnsureResults() {
  if (results_made_) return Status::Ok();
  // Workers publish with NOMKSTREAM (nothing re-created after the run ends),
  // so the run's stream must exist first.
  Result<RedisReply> r = redis_->Command({"XADD", names_.Results(options_.uid), "*", "type", "open"});
  if (!r.ok()) return r.status();
  if (r->is_error()) return Status::Unavailable("creating the result stream: " + r->str);
  results_made_ = true;
  return Status::Ok();
}

Status QueueBackend::Publish(std::span<const Launch> launches) {
  if (stager_ == nullptr || launches.empty()) return Status::Ok();
  std::vector<std::pair<std::string, int>> launching;
  for (const Launch& l : launches) launching.emplace_back(l.task->id, l.attempt);
  return stager_->Publish(launching).Annotate("queue backend: publishing the run's inputs to " + stager_->StageUrl());
}

std::vector<Result<std::string>> QueueBackend::Submit(std::span<const Launch> launches) {
  if (Status st = Publish(launches); !st.ok()) return std::vector<Result<std::string>>(launches.size(), st);
  std::vector<RedisCommand> cmds;
  std::vector<std::string> streams;
  for (const Launch& l : launches) {
    AttemptMessage m;
    m.run_uid = options_.uid;
    if (stager_ != nullptr) {
      m.stage = stager_->StageUrl();
    } else {
      m.run_dir = layout_.dir();
    }
    m.task_id = l.task->id;
    m.attempt = l.attempt;
    m.time_limit_s = l.time_limit_s;
    m.grace_s = options_.grace_s;
    m.gpus = l.task->resources.gpus;
    m.results = names_.Results(options_.uid);
    m.prefix = options_.prefix;
    m.visibility_s = options_.visibility_s;
    streams.push_back(names_.ClassStream(QueueClass(m.gpus)));
    RedisCommand add = {"XADD", streams.back(), "*"};
    for (std::string& f : EncodeAttempt(m)) add.push_back(std::move(f));
    cmds.push_back(std::move(add));
  }
  // Redis restarting: waited for (queue.wait_seconds). Each attempt is
  // sent until one XADD of it got an id; only those without one are sent
  // again (a resent one whose reply was lost makes a second entry, which no
  // worker runs: its claim key is taken).
  std::vector<std::string> ids(launches.size());
  Status last = Status::Ok();
  const double give_up = clock_->Now() + options_.wait_s;
  for (double pause = 0.1;; pause = std::min(pause * 2, 2.0)) {
    std::vector<size_t> todo;
    for (size_t i = 0; i < launches.size(); ++i) {
      if (ids[i].empty()) todo.push_back(i);
    }
    if (todo.empty()) break;
    last = EnsureResults();
    for (size_t i : todo) {
      if (last.ok()) last = EnsureGroup(streams[i]);
    }
    if (last.ok()) {
      std::vector<RedisCommand> batch;
      for (size_t i : todo) batch.push_back(cmds[i]);
      Result<std::vector<RedisReply>> r = redis_->Pipeline(batch);
      last = r.status();
      for (size_t k = 0; r.ok() && k < todo.size(); ++k) {
        // An error answer (the server loading its AOF, out of memory) is
        // waited out like no answer.
        if ((*r)[k].is_error() || (*r)[k].text().empty()) {
          last = Status::Unavailable("XADD answered '" + (*r)[k].str + "'");
        } else {
          ids[todo[k]] = (*r)[k].text();
        }
      }
    }
    Outage(!last.ok());
    if (last.ok() || clock_->Now() >= give_up) break;
    clock_->SleepUntil(clock_->Now() + pause);
  }
  std::vector<Result<std::string>> out;
  for (size_t i = 0; i < launches.size(); ++i) {
    if (ids[i].empty()) {
      out.push_back(last.Annotate("queue backend: pushing the attempt to " + streams[i]));
      continue;
    }
    const Launch& l = launches[i];
    Job job{l.index, l.attempt, l.task->id, streams[i], ids[i], "", false};
    jobs_[JobKey(job.task_id, job.attempt)] = job;
    out.push_back(streams[i] + "|" + ids[i]);
  }
  return out;
}

QueueBackend::Job* QueueBackend::Find(const std::string& task_id, int attempt) {
  auto it = jobs_.find(JobKey(task_id, attempt));
  return it == jobs_.end() ? nullptr : &it->second;
}

void QueueBackend::Cancel(Dag::Index index, int attempt) {
  for (auto& [key, job] : jobs_) {
    if (job.index != index || job.attempt != attempt || job.cancel_requested) continue;
    job.cancel_requested = true;
    to_cancel_.push_back(key);
  }
}

void QueueBackend::FlushCancels(std::vector<BackendEvent>* events) {
  if (to_cancel_.empty()) return;
  std::vector<RedisCommand> cmds;
  std::vector<std::string> keys;
  for (const std::string& key : to_cancel_) {
    auto it = jobs_.find(key);
    if (it == jobs_.end()) continue;
    const Job& job = it->second;
    const std::string cancel_key = names_.CancelKey(options_.uid, job.task_id, job.attempt);
    if (job.entry.empty()) {
      // Adopted after a resume and not seen started yet: the key alone
      // keeps a worker from starting it, or stops it at its next heartbeat.
      cmds.push_back({"SET", cancel_key, "1", "EX", kFenceTtl});
    } else {
      cmds.push_back({"EVAL", kCancelScript, "3", job.stream, cancel_key, names_.Gone(options_.uid), job.entry,
                      kFenceTtl});
    }
    keys.push_back(key);
  }
  Result<std::vector<RedisReply>> r = redis_->Pipeline(cmds);
  Outage(!r.ok());
  if (!r.ok()) return;  // asked again at the next read
  std::vector<std::string> again;
  for (size_t i = 0; i < keys.size(); ++i) {
    const RedisReply& reply = (*r)[i];
    if (reply.is_error()) {
      again.push_back(keys[i]);  // the server loading its AOF: asked again
      continue;
    }
    if (reply.type != RedisReply::Type::kInteger || reply.integer != 1) continue;  // its result comes
    auto it = jobs_.find(keys[i]);
    events->push_back(FailedEvent(it->second.index, it->second.attempt, clock_->Now(), FailureReason::kCancelled,
                                  "cancelled before a worker took it"));
    jobs_.erase(it);
  }
  to_cancel_ = std::move(again);
}

bool QueueBackend::ReadResults(std::vector<BackendEvent>* events, double block_s) {
  const std::string stream = names_.Results(options_.uid);
  const double start = clock_->Now();
  for (bool first = true;; first = false) {
    RedisCommand cmd = {"XREAD", "COUNT", "1000"};
    if (first && block_s > 0) {
      cmd.push_back("BLOCK");
      cmd.push_back(std::to_string(std::max(1LL, std::llround(block_s * 1000))));
    }
    cmd.push_back("STREAMS");
    cmd.push_back(stream);
    cmd.push_back(last_result_);
    Result<RedisReply> r = redis_->Command(cmd);
    Outage(!r.ok() || r->is_error());
    if (!r.ok() || r->is_error()) return false;
    std::map<std::string, std::vector<StreamEntry>> got = StreamEntries(*r);
    const std::vector<StreamEntry>& entries = got[stream];
    for (const StreamEntry& e : entries) {
      last_result_ = e.id;
      OnMessage(e.fields, events);
    }
    // Nothing came: the server waited block_s (a fake one did not; its
    // clock is moved instead).
    if (first && entries.empty() && block_s > 0) clock_->SleepUntil(start + block_s);
    if (entries.size() < 1000) return true;
  }
}

void QueueBackend::OnMessage(const RedisReply& fields, std::vector<BackendEvent>* events, double since) {
  const std::string type = FieldOf(fields, "type");
  if (type == "started") {
    int attempt = std::atoi(FieldOf(fields, "attempt").c_str());
    Job* job = Find(FieldOf(fields, "task"), attempt);
    if (job == nullptr) return;
    job->worker = FieldOf(fields, "worker");
    // The entry that runs: after a resume the first news of it, and after
    // a resent XADD perhaps not the one Submit recorded.
    if (!FieldOf(fields, "entry").empty()) {
      job->stream = FieldOf(fields, "stream");
      job->entry = FieldOf(fields, "entry");
    }
    events->push_back(StartedEvent(job->index, job->attempt, std::strtod(FieldOf(fields, "started").c_str(), nullptr)));
    return;
  }
  if (type != "result") return;
  Result<ResultMessage> m = DecodeResult(fields);
  if (!m.ok()) return;
  auto it = jobs_.find(JobKey(m->task_id, m->attempt));
  // Not in flight: a late result of an attempt porch reclaimed, or one
  // already settled. Its result file stays where its supervisor wrote it; it
  // cannot override the newer attempt.
  if (it == jobs_.end()) return;
  const Job& job = it->second;
  // A worker that never started it (-2, -3) or could not fetch its inputs
  // has sent nothing to fetch.
  const bool nothing_sent = m->exit_code < 0 || m->exit_code == kWorkerStageInFailed;
  if (stager_ != nullptr && !nothing_sent && !PathExists(layout_.result_path(job.task_id, job.attempt))) {
    // NotFound: the worker sent no result (it says why); anything else is
    // S3 failing for now.
    Status fetched = stager_->FetchAttempt(job.task_id, job.attempt);
    if (since < 0) since = clock_->Now();
    if (!fetched.ok() && fetched.code() != Status::Code::kNotFound && clock_->Now() - since < options_.wait_s) {
      unfetched_.emplace_back(fields, since);
      return;
    }
  }
  Ending e;
  e.cancel_requested = job.cancel_requested;
  e.exit_code = m->exit_code;
  if (m->lost && !job.cancel_requested) {
    e.backend_says = BackendVerdict{FailureReason::kLost,
        "worker " + m->worker + " lost contact with Redis and stopped the attempt; it runs again"};
  }
  e.without_result = !m->detail.empty()
                         ? m->detail
                         : "the attempt on worker " + m->worker + " exited " + std::to_string(m->exit_code) +
                               " without a result file (see tasks/" + job.task_id + "/attempt-" +
                               std::to_string(job.attempt) + "/worker.log)";
  Result<AttemptResult> result = ReadAttemptResult(layout_.result_path(job.task_id, job.attempt));
  BackendEvent ev = ResolveEnding(job.index, job.attempt, clock_->Now(), result, e);
  if (m->started_at > 0) ev.started_at = m->started_at;
  events->push_back(std::move(ev));
  jobs_.erase(it);
}

void QueueBackend::Reap(std::vector<BackendEvent>* events) {
  next_reap_ = clock_->Now() + options_.visibility_s / 3;
  std::map<std::string, std::vector<std::string>> by_stream;  // stream -> entry ids
  for (const auto& [key, job] : jobs_) {
    if (!job.entry.empty()) by_stream[job.stream].push_back(job.entry);
  }
  if (by_stream.empty()) return;
  std::vector<RedisCommand> cmds;
  std::vector<std::string> streams;
  const std::string idle_ms = std::to_string(static_cast<long long>(std::llround(options_.visibility_s * 1000)));
  for (const auto& [stream, ids] : by_stream) {
    RedisCommand cmd = {"EVAL", kReapScript, "2", stream, names_.Gone(options_.uid), idle_ms, kFenceTtl};
    cmd.insert(cmd.end(), ids.begin(), ids.end());
    cmds.push_back(std::move(cmd));
    streams.push_back(stream);
  }
  Result<std::vector<RedisReply>> r = redis_->Pipeline(cmds);
  Outage(!r.ok());
  if (!r.ok()) return;
  for (size_t i = 0; i < streams.size(); ++i) {
    for (const RedisReply& id : (*r)[i].elements) {
      for (auto it = jobs_.begin(); it != jobs_.end(); ++it) {
        if (it->second.stream != streams[i] || it->second.entry != id.text()) continue;
        const Job& job = it->second;
        const std::string who = "worker " + (job.worker.empty() ? std::string("?") : job.worker) +
                                " stopped heartbeating for " +
                                std::to_string(static_cast<int>(options_.visibility_s)) +
                                " s (queue.visibility_timeout)";
        // A cancelled attempt whose worker died ends cancelled, as asked.
        events->push_back(job.cancel_requested
                              ? FailedEvent(job.index, job.attempt, clock_->Now(), FailureReason::kCancelled, who)
                              : FailedEvent(job.index, job.attempt, clock_->Now(), FailureReason::kLost,
                                            who + "; the attempt runs again, not charged"));
        jobs_.erase(it);
        break;
      }
    }
  }
}

void QueueBackend::CheckAdopted(std::vector<BackendEvent>* events) {
  // One snapshot (MULTI): which entries are still in their stream, and the
  // results so far. A worker deletes an entry in the same step as it
  // publishes the result, so an entry gone from the snapshot has its result
  // in the snapshot, unless porch reclaimed it.
  std::vector<RedisCommand> cmds = {{"MULTI"}};
  std::vector<std::string> keys;
  std::vector<std::string> checked;  // the entry looked at, per key
  std::set<std::string> fetching;  // results read, their files not fetched yet: not lost
  for (const auto& [fields, since] : unfetched_) {
    fetching.insert(JobKey(FieldOf(fields, "task"), std::atoi(FieldOf(fields, "attempt").c_str())));
  }
  for (const auto& [key, job] : jobs_) {
    if (job.entry.empty() || fetching.count(key) > 0) continue;
    cmds.push_back({"XRANGE", job.stream, job.entry, job.entry});
    keys.push_back(key);
    checked.push_back(job.stream + "|" + job.entry);
  }
  const std::string results = names_.Results(options_.uid);
  cmds.push_back({"XREAD", "STREAMS", results, last_result_});
  cmds.push_back({"EXEC"});
  Result<std::vector<RedisReply>> r = redis_->Pipeline(cmds);
  Outage(!r.ok());
  if (!r.ok() || !r->back().is_array() || r->back().elements.size() != keys.size() + 1) return;
  const std::vector<RedisReply>& snapshot = r->back().elements;
  check_adopted_ = false;
  std::map<std::string, std::vector<StreamEntry>> got = StreamEntries(snapshot.back());
  for (const StreamEntry& e : got[results]) {
    last_result_ = e.id;
    OnMessage(e.fields, events);
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    auto it = jobs_.find(keys[i]);
    if (it == jobs_.end() || !snapshot[i].is_array() || !snapshot[i].elements.empty()) continue;
    // A "started" in the snapshot named another entry (a resent XADD): that one runs.
    if (it->second.stream + "|" + it->second.entry != checked[i]) continue;
    events->push_back(FailedEvent(it->second.index, it->second.attempt, clock_->Now(), FailureReason::kLost,
                                  "its queue entry was reclaimed while porch was down; it runs again"));
    jobs_.erase(it);
  }
}

std::vector<BackendEvent> QueueBackend::Wait(double deadline) {
  std::vector<BackendEvent> events = std::move(pending_);
  pending_.clear();
  if (!unfetched_.empty() && clock_->Now() >= next_fetch_) {
    next_fetch_ = clock_->Now() + 1;  // S3 failing: once a second, not at every read
    std::vector<std::pair<RedisReply, double>> again = std::move(unfetched_);
    unfetched_.clear();
    for (auto& [fields, since] : again) OnMessage(fields, &events, since);
  }
  while (true) {
    if (!results_made_ && !jobs_.empty()) EnsureResults().IgnoreError();  // gone with a Redis that lost its data
    FlushCancels(&events);
    if (check_adopted_ && outage_since_ == 0 && clock_->Now() >= check_after_) CheckAdopted(&events);
    if (clock_->Now() >= next_reap_) Reap(&events);
    if (clock_->Now() >= next_workers_) RefreshWorkers();
    const double left = deadline - clock_->Now();
    const double block = events.empty() ? std::min(std::max(left, 0.0), options_.poll_s) : 0;
    const bool answered = ReadResults(&events, block);
    if (!events.empty() || clock_->Now() >= deadline) break;
    // Redis gone: no busy loop while it is.
    if (!answered) clock_->SleepUntil(std::min(deadline, clock_->Now() + options_.poll_s));
  }
  return events;
}

void QueueBackend::RefreshWorkers() {
  constexpr double kEverySeconds = 3;
  next_workers_ = clock_->Now() + kEverySeconds;
  const std::string since = std::to_string(clock_->Now() - 3 * options_.visibility_s);
  Result<RedisReply> names = redis_->Command({"ZRANGEBYSCORE", names_.Workers(), since, "+inf", "LIMIT", "0", "1000"});
  Outage(!names.ok());
  if (!names.ok() || !names->is_array()) return;
  nlohmann::json workers = nlohmann::json::array();
  if (!names->elements.empty()) {
    RedisCommand get = {"MGET"};
    for (const RedisReply& n : names->elements) get.push_back(names_.WorkerKey(n.text()));
    Result<RedisReply> beats = redis_->Command(get);
    Outage(!beats.ok());
    if (!beats.ok() || !beats->is_array()) return;
    for (const RedisReply& b : beats->elements) {
      nlohmann::json w = nlohmann::json::parse(b.text(), nullptr, false);
      if (w.is_object()) workers.push_back(std::move(w));
    }
  }
  WriteFileAtomic(layout_.workers(), workers.dump() + "\n", /*sync_dir=*/false).IgnoreError();
}

Result<RecoverOutcome> QueueBackend::Recover(const InFlight& f) {
  if (Status st = EnsureResults(); !st.ok()) return st.Annotate("queue backend: recovering " + f.task->id);
  Job job{f.index, f.attempt, f.task->id, "", "", "", false};
  if (size_t bar = f.job_id.find('|'); bar != std::string::npos) {
    job.stream = f.job_id.substr(0, bar);
    job.entry = f.job_id.substr(bar + 1);
    jobs_[JobKey(job.task_id, job.attempt)] = job;
    check_adopted_ = true;
    return RecoverOutcome::kAdopted;  // its result, if any, is in the result stream (read from 0)
  }
  if (stager_ != nullptr) stager_->FetchAttempt(f.task->id, f.attempt).IgnoreError();  // done while porch was down?
  if (std::optional<BackendEvent> done = EventFromResultFile(layout_, f)) {
    pending_.push_back(std::move(*done));
    return RecoverOutcome::kAdopted;
  }
  // porch died between XADD and the journal: a worker may have claimed it.
  Result<RedisReply> r = redis_->Command({"EVAL", kFenceScript, "2",
                                          names_.ClaimKey(options_.uid, job.task_id, job.attempt),
                                          names_.CancelKey(options_.uid, job.task_id, job.attempt), kFenceTtl});
  if (!r.ok()) return r.status().Annotate("queue backend: recovering " + job.task_id);
  if (r->is_error()) return Status::Unavailable("queue backend: recovering " + job.task_id + ": " + r->str);
  if (r->integer == 1) {
    jobs_[JobKey(job.task_id, job.attempt)] = job;
    return RecoverOutcome::kAdopted;
  }
  return RecoverOutcome::kLost;
}

Status QueueBackend::Close() {
  if (!jobs_.empty()) return Status::Ok();  // stopped with attempts in flight: resume reads their results
  if (stager_ != nullptr) PORCH_RETURN_IF_ERROR(stager_->Close().Annotate("queue backend"));
  Result<RedisReply> r = redis_->Command({"DEL", names_.Results(options_.uid), names_.Gone(options_.uid)});
  (void)r;  // a result stream left behind costs little; Redis gone at the end is not the run's failure
  return Status::Ok();
}

Result<RedisAddress> QueueAddress(const std::string& url, const std::string& password_file,
                                  const std::map<std::string, std::string>& env) {
  std::string password;
  if (!password_file.empty()) {
    Result<std::string> text = ReadFile(password_file);
    if (!text.ok()) return text.status().Annotate("queue.password_file");
    password = *text;
    while (!password.empty() && (password.back() == '\n' || password.back() == '\r')) password.pop_back();
  } else if (auto it = env.find("PORCH_QUEUE_PASSWORD"); it != env.end() && !it->second.empty()) {
    password = it->second;
  } else if (auto it2 = env.find("REDISCLI_AUTH"); it2 != env.end() && !it2->second.empty()) {
    password = it2->second;
  }
  return ParseRedisUrl(url, password);
}

namespace {

class OwningQueueBackend : private S3Staging, public QueueBackend {
 public:
  OwningQueueBackend(std::unique_ptr<RedisClient> redis, S3Staging staging, RunLayout layout, Clock* clock,
                     QueueBackendOptions o)
      : S3Staging(std::move(staging)),
        QueueBackend(redis.get(), std::move(layout), clock, std::move(o), stager.get()),
        redis_(std::move(redis)) {}

 private:
  std::unique_ptr<RedisClient> redis_;  // the base only borrows it (and does not use it when destroyed)
};

}  // namespace

Result<std::unique_ptr<Backend>> CreateQueueBackend(const Config& config, const RunLayout& layout,
                                                    const RunIdentity& identity, Clock* clock,
                                                    const std::map<std::string, std::string>& env) {
  // Workers find the run directory by its path: an absolute one.
  RunLayout absolute = layout;
  if (layout.dir().empty() || layout.dir().front() != '/') {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) == nullptr) return Status::FromErrno("queue backend: the working directory", errno);
    absolute = RunLayout(std::string(cwd) + "/" + layout.dir());
  }
  Result<RedisAddress> address = QueueAddress(config.queue.url, config.queue.password_file, env);
  if (!address.ok()) return address.status();
  Result<std::unique_ptr<HiredisClient>> client = ConnectRedis(*address, config.queue.timeout_seconds);
  if (!client.ok()) return client.status().Annotate("queue backend");
  S3Staging staging;
  if (config.queue.staging == "s3") {
    Result<S3Staging> opened = OpenS3Staging(config, absolute, identity, clock, env, "queue backend (queue.staging: s3)");
    if (!opened.ok()) return opened.status();
    staging = std::move(*opened);
  }
  QueueBackendOptions o;
  o.uid = identity.uid;
  o.prefix = config.queue.prefix;
  o.visibility_s = config.queue.visibility_timeout;
  o.poll_s = std::min(config.queue.poll_seconds, config.queue.timeout_seconds / 2);  // a read must not time out
  o.grace_s = config.kill_grace_seconds;
  o.wait_s = config.queue.wait_seconds;
  return std::unique_ptr<Backend>(std::make_unique<OwningQueueBackend>(std::move(*client), std::move(staging),
                                                                       absolute, clock, std::move(o)));
}

}  // namespace porch
