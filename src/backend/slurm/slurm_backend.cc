#include "backend/slurm/slurm_backend.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>

#include "backend/slurm/job_script.h"
#include "backend/verdict.h"
#include "core/strings.h"
#include "model/result_file.h"
#include "platform/files.h"
#include "platform/process.h"
#include "platform/spawn.h"

namespace porch {

namespace {

// After a submit, the first look comes this soon: short jobs end quickly.
constexpr double kFirstLookSeconds = 1.0;

}  // namespace

SlurmBackend::SlurmBackend(SlurmClient* client, RunLayout layout, Clock* clock,
                           SlurmBackendOptions options, AttemptStager* stager)
    : PollingBackend(clock),
      client_(client),
      stager_(stager),
      layout_(AbsolutePath(layout.dir())),
      options_(std::move(options)),
      escalation_({/*memory_factor=*/2, options_.max_memory_bytes, /*time_factor=*/2,
                   options_.max_time_s - options_.grace_s - options_.slurm_time_margin_s}) {}

double SlurmBackend::ExecLimit(const Launch& l) const {
  return escalation_.Time(l.index, l.time_limit_s > 0 ? l.time_limit_s : options_.default_time_s);
}

SlurmBackend::Shape SlurmBackend::ShapeOf(const Launch& l) const {
  const Resources& r = l.task->resources;
  Shape s;
  s.cpus = r.cpus > 0 ? r.cpus : options_.default_cpus;
  s.gpus = r.gpus > 0 ? r.gpus : options_.default_gpus;
  s.memory = escalation_.Memory(
      l.index, r.memory_bytes > 0 ? r.memory_bytes : options_.default_memory_bytes);
  s.time = ExecLimit(l);
  return s;
}

std::string SlurmBackend::ScriptPath(const std::string& name) const {
  return layout_.dir() + "/slurm/" + name + ".sh";
}

std::string SlurmBackend::Script(std::span<const Launch> batch, const std::string& name) const {
  const Launch& first = batch.front();
  Shape shape = ShapeOf(first);
  JobScriptSpec spec;
  spec.job_name = name;
  spec.partition = shape.gpus > 0 && !options_.gpu_partition.empty() ? options_.gpu_partition
                                                                      : options_.partition;
  spec.time_limit_s = shape.time + options_.grace_s + options_.slurm_time_margin_s;
  spec.memory_bytes = shape.memory;
  spec.cpus = shape.cpus;
  spec.gpus = shape.gpus;
  if (stager_) {
    // Nodes cannot see the run directory: SLURM's own output stays on the
    // node; the script sends its own output home through S3.
    // Nodes cannot see the run directory: SLURM's own output stays on the
    // node (the script removes it when all went well).
    spec.output = "/tmp/porch-" + options_.uid + "-%j.out";
    spec.error = spec.output;
    spec.array_throttle = options_.array_throttle;
    spec.stage_url = stager_->StageUrl();
    spec.s3_args = stager_->S3Args();
    spec.run_id = options_.uid;
  } else if (batch.size() == 1) {
    std::string dir = layout_.attempt_dir(first.task->id, first.attempt);
    spec.output = dir + "/slurm.out";
    spec.error = dir + "/slurm.err";
  } else {
    spec.output = layout_.dir() + "/slurm/" + name + "-%a.out";
    spec.error = spec.output;
    spec.array_throttle = options_.array_throttle;
  }
  spec.export_env = options_.export_env;
  spec.extra_args = options_.extra_args;
  spec.comment = SlurmJobComment(options_.uid);
  spec.run_dir = layout_.dir();
  spec.porch_path = options_.porch_path;
  spec.exports = options_.exports;
  spec.grace_s = options_.grace_s;
  for (const Launch& l : batch) spec.elements.push_back({l.task->id, l.attempt, shape.time});
  if (options_.hold_dependents) spec.after_ok = first.after;
  return GenerateJobScript(spec);
}

std::vector<Result<std::string>> SlurmBackend::Submit(std::span<const Launch> launches) {
  std::vector<Result<std::string>> out(launches.size(), Status::Internal("not submitted"));
  // Group by shape (and held dependencies), keeping launch order in a group.
  std::map<std::pair<Shape, std::vector<std::string>>, std::vector<size_t>> groups;
  for (size_t k = 0; k < launches.size(); ++k) {
    std::vector<std::string> after;
    if (options_.hold_dependents) after = launches[k].after;
    groups[{ShapeOf(launches[k]), after}].push_back(k);
  }
  Status dir = MakeDirs(layout_.dir() + "/slurm");
  if (dir.ok() && stager_ && !launches.empty()) {
    std::vector<std::pair<std::string, int>> launching;
    for (const Launch& l : launches) launching.emplace_back(l.task->id, l.attempt);
    dir = stager_->Publish(launching).Annotate(options_.name + " backend: publishing the run's inputs");
  }
  for (auto& [shape, members] : groups) {
    std::vector<std::vector<size_t>> batches;
    if (options_.arrays && members.size() > 1) {
      // At most max_array_size elements per array (SLURM's MaxArraySize).
      const size_t cap = static_cast<size_t>(std::max(1, options_.max_array_size));
      for (size_t from = 0; from < members.size(); from += cap) {
        size_t to = std::min(members.size(), from + cap);
        batches.emplace_back(members.begin() + static_cast<long>(from),
                             members.begin() + static_cast<long>(to));
      }
    } else {
      for (size_t k : members) batches.push_back({k});
    }
    for (const std::vector<size_t>& b : batches) {
      std::vector<Launch> batch;
      for (size_t k : b) batch.push_back(launches[k]);
      Status st = dir;
      for (const Launch& l : batch) {
        if (st.ok()) st = MakeDirs(layout_.attempt_dir(l.task->id, l.attempt));
      }
      std::string name = SlurmJobName(options_.uid, batch[0].task->id, batch[0].attempt);
      if (batch.size() > 1) name += "-array" + std::to_string(batch.size());
      std::string path = ScriptPath(name);
      if (st.ok()) st = WriteFileFast(path, Script(batch, name));
      Result<std::string> id = st.ok() ? client_->Submit(path, name) : Result<std::string>(st);
      for (size_t j = 0; j < b.size(); ++j) {
        const Launch& l = batch[j];
        if (!id.ok()) {
          out[b[j]] = id.status().Annotate("slurm backend: submitting " + name);
          continue;
        }
        std::string job_id = batch.size() > 1 ? *id + "_" + std::to_string(j) : *id;
        Job job;
        job.index = l.index;
        job.attempt = l.attempt;
        job.task_id = l.task->id;
        if (!stager_) {
          job.stderr_path = batch.size() > 1 ? layout_.dir() + "/slurm/" + name + "-" +
                                                   std::to_string(j) + ".out"
                                             : layout_.attempt_dir(l.task->id, l.attempt) + "/slurm.err";
        }
        jobs_[job_id] = job;
        out[b[j]] = job_id;
      }
    }
  }
  // Poll soon: a short job may be over before a full interval passes.
  PollSoon(std::min(kFirstLookSeconds, options_.poll_s));
  return out;
}

bool SlurmBackend::KilledForMemory(const Job& job, SlurmState state) const {
  if (state == SlurmState::kOutOfMemory) return true;
  if (job.stderr_path.empty() || (state != SlurmState::kFailed && state != SlurmState::kUnknown &&
                                  state != SlurmState::kCancelled)) {
    return false;
  }
  Result<std::string> err = ReadFile(job.stderr_path);
  return err.ok() && err->find("exceeded memory limit") != std::string::npos;
}

bool SlurmBackend::EndIsKnown(const Job& job, SlurmState state) const {
  // Porch cancelled it, SLURM's state says what happened, or SLURM killed it
  // for memory: no result file is coming.
  return job.cancel_requested || state == SlurmState::kNodeFail ||
         state == SlurmState::kBootFail || state == SlurmState::kPreempted ||
         KilledForMemory(job, state);
}

BackendEvent SlurmBackend::Finish(Job& job, const Result<AttemptResult>& r, SlurmState state,
                                  int exit_code) {
  Ending e;
  e.cancel_requested = job.cancel_requested;
  e.exit_code = exit_code;
  e.memory_limited = true;  // every job asks for --mem: a SIGKILL nobody sent is the limit
  if (!r.ok() && !job.cancel_requested && KilledForMemory(job, state)) {
    e.backend_says = BackendVerdict{FailureReason::kOom,
        "SLURM killed the job at its memory limit (its stderr: exceeded memory limit); the next "
        "attempt asks for more"};
  } else if (state == SlurmState::kCancelled && job.last_reason.find("Dependency") != std::string::npos) {
    e.backend_says = BackendVerdict{FailureReason::kLost,
        "SLURM cancelled the held job: a dependency did not succeed (" + job.last_reason + ")"};
  } else if (state == SlurmState::kUnknown) {
    e.backend_says = BackendVerdict{FailureReason::kLost,
        "the job left the queue without a result file, and SLURM keeps no record of how it "
        "ended (no accounting)"};
  } else if (!r.ok() || (IsTerminal(state) && state != SlurmState::kCompleted &&
                          state != SlurmState::kFailed)) {
    // SLURM's word: the only one without a result, and the better one when
    // the attempt saw a SIGTERM porch did not send (TIMEOUT, PREEMPTED).
    SlurmVerdict v = VerdictFromState(state, exit_code, false);
    e.backend_says = BackendVerdict{v.reason, v.detail};
  }
  BackendEvent ev = ResolveEnding(job.index, job.attempt, clock_->Now(), r, e);
  escalation_.Record(job.index, ev.reason);
  return ev;
}

void SlurmBackend::FlushCancels() {
  // Jobs that already ended are not an error; a controller that does not
  // answer gets the same scancel at the next look.
  if (!to_cancel_.empty() && client_->Cancel(to_cancel_).ok()) to_cancel_.clear();
}

Result<std::map<std::string, SlurmJob>> SlurmBackend::ListQueue() {
  Result<std::vector<SlurmJob>> listed = client_->Queue(options_.user, SlurmJobComment(options_.uid));
  if (!listed.ok()) return listed.status();
  std::map<std::string, SlurmJob> by_id;
  for (SlurmJob& j : *listed) by_id[j.id] = std::move(j);
  if (recovered_) {
    // Jobs of this run that porch has no record of: submitted just before
    // porch died, their attempts already reported lost. Never let them run
    // beside the attempts that replace them.
    for (const auto& [id, j] : by_id) {
      if (!jobs_.count(id) && !IsTerminal(j.state)) to_cancel_.push_back(id);
    }
    recovered_ = false;
  }
  return by_id;
}

bool SlurmBackend::LookAt(Job& job, const Result<AttemptResult>& result, const SlurmJob* s,
                          bool listed, double now, std::vector<BackendEvent>* events) {
  if (s) {
    job.seen = true;
    job.last = s->state;
    job.last_reason = s->reason;
    if (HasStarted(s->state) && !job.started) {
      job.started = true;
      events->push_back(StartedEvent(job.index, job.attempt, now));
    }
  }
  bool finish = false;
  SlurmState state = s ? s->state : job.last;
  if (result.ok()) {
    // The result is the authority; wait only when it says "cancelled" and
    // porch cancelled nothing, until SLURM says why.
    bool unexplained_cancel = result->reason == FailureReason::kCancelled &&
                              !job.cancel_requested && s && !IsTerminal(s->state);
    finish = !unexplained_cancel || (job.ended_at > 0 && now - job.ended_at > options_.result_grace_s);
    if (!finish && job.ended_at == 0) job.ended_at = now;
    if (!s && !listed) state = SlurmState::kUnknown;
  } else if (s && IsTerminal(s->state)) {
    // Ended in SLURM's eyes; the result file may lag on shared storage.
    if (job.ended_at == 0) job.ended_at = now;
    finish = now - job.ended_at >= options_.result_grace_s || EndIsKnown(job, s->state);
  }
  if (!finish) return false;
  if (!job.started && result.ok() && result->started_at > 0) {
    events->push_back(StartedEvent(job.index, job.attempt, result->started_at));
  }
  events->push_back(Finish(job, result, state, s ? s->exit_code : -1));
  return true;
}

void SlurmBackend::ResolveVanished(const std::vector<std::string>& vanished, double now,
                                   std::vector<BackendEvent>* events) {
  // Gone from squeue (MinJobAge) with no result file yet: ask accounting,
  // then give shared storage result_grace_s to show the result.
  std::map<std::string, SlurmJob> accounted;
  if (client_->accounting_available()) {
    Result<std::vector<SlurmJob>> acct = client_->Accounting(vanished);
    if (acct.ok()) {
      for (SlurmJob& j : *acct) accounted[j.id] = std::move(j);
    }
  }
  for (const std::string& id : vanished) {
    Job& job = jobs_.at(id);
    if (job.ended_at == 0) job.ended_at = now;
    auto a = accounted.find(id);
    if (a != accounted.end() && !IsTerminal(a->second.state)) {
      job.ended_at = 0;  // accounting says it is still going: keep watching
      continue;
    }
    // Accounting's word, else the last state squeue showed before it forgot the job.
    SlurmState state = a != accounted.end() ? a->second.state
                       : IsTerminal(job.last) ? job.last
                                              : SlurmState::kUnknown;
    if (now - job.ended_at < options_.result_grace_s && !EndIsKnown(job, state)) continue;
    int exit_code = a != accounted.end() ? a->second.exit_code : -1;
    // A result may have arrived since the first look.
    events->push_back(Finish(job, ReadAttemptResult(layout_.result_path(job.task_id, job.attempt)),
                             state, exit_code));
    jobs_.erase(id);
  }
}

void SlurmBackend::Poll(std::vector<BackendEvent>* events) {
  FlushCancels();
  if (jobs_.empty() && !recovered_) return;
  if (stager_) {
    std::vector<std::pair<std::string, int>> active;
    for (const auto& [id, job] : jobs_) active.emplace_back(job.task_id, job.attempt);
    stager_->Fetch(active);
  }
  const double now = clock_->Now();
  Result<std::map<std::string, SlurmJob>> queue = ListQueue();
  FlushCancels();  // orphans found by the listing go at once
  std::vector<std::string> vanished;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    const SlurmJob* s = nullptr;
    if (queue.ok()) {
      auto f = queue->find(it->first);
      if (f != queue->end()) s = &f->second;
    }
    // One read per job per poll: absent until the attempt is over.
    const Result<AttemptResult> result =
        ReadAttemptResult(layout_.result_path(it->second.task_id, it->second.attempt));
    if (LookAt(it->second, result, s, queue.ok(), now, events)) {
      it = jobs_.erase(it);
      continue;
    }
    if (!s && queue.ok() && !result.ok()) vanished.push_back(it->first);
    ++it;
  }
  if (!vanished.empty()) ResolveVanished(vanished, now, events);
}

void SlurmBackend::Cancel(Dag::Index index, int attempt) {
  for (auto& [id, job] : jobs_) {
    if (job.index == index && job.attempt == attempt && !job.cancel_requested) {
      job.cancel_requested = true;
      to_cancel_.push_back(id);  // one scancel for all, at the next look
      PollSoon();
    }
  }
}

Result<RecoverOutcome> SlurmBackend::Recover(const InFlight& f) {
  recovered_ = true;
  Job job;
  job.index = f.index;
  job.attempt = f.attempt;
  job.task_id = f.task->id;
  if (!f.job_id.empty()) {
    jobs_[f.job_id] = job;  // Wait() resolves it: queue, result file, accounting
    return RecoverOutcome::kAdopted;
  }
  // porch died before sbatch answered; the result file is the only trace.
  if (std::optional<BackendEvent> done = EventFromResultFile(layout_, f)) {
    Emit(std::move(*done));
    return RecoverOutcome::kAdopted;
  }
  return RecoverOutcome::kLost;
}

namespace {

struct SlurmParts {
  std::unique_ptr<CommandRunner> runner;
  std::unique_ptr<SlurmClient> client;
};

// A SlurmBackend that owns its client (for the factory).
class OwningSlurmBackend : private SlurmParts, public SlurmBackend {
 public:
  OwningSlurmBackend(SlurmParts parts, RunLayout layout, Clock* clock, SlurmBackendOptions o)
      : SlurmParts(std::move(parts)), SlurmBackend(client.get(), layout, clock, std::move(o)) {}
};

std::string SelfPath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "porch";
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace

namespace {

// sbatch gets the environment porch resolved (a key from porch.yaml too),
// which it exports to the jobs under slurm.export_env. With a key file the
// nodes read the key there: it stays out of the job's environment (which
// slurmctld keeps in its state).
std::vector<std::string> SbatchEnvironment(const Config& config,
                                           const std::map<std::string, std::string>& env) {
  std::vector<std::string> drop;
  if (!config.llm.api_key_file.empty()) drop = {"ANTHROPIC_API_KEY", "PORCH_LLM_API_KEY"};
  return EnvironmentFrom(env, {}, drop);
}

}  // namespace

Result<SlurmSetup> ConnectSlurm(const Config& config, const RunIdentity& identity, Clock* clock,
                                const std::map<std::string, std::string>& env) {
  const SlurmConfig& c = config.slurm;
  SlurmSetup setup;
  SlurmBackendOptions& o = setup.options;
  o.run_id = identity.run_id;
  o.uid = identity.uid;
  o.user = UserName(geteuid());
  o.porch_path = c.porch_path.empty() ? SelfPath() : c.porch_path;
  if (!c.claude_path.empty()) o.exports.emplace_back("PORCH_AGENT_CLAUDE_PATH", c.claude_path);
  o.partition = c.partition;
  o.gpu_partition = c.gpu_partition;
  auto bad = [](const std::string& key, const std::string& value, const char* want) {
    return Status::InvalidArgument("slurm backend: " + key + " '" + value + "' is not " + want);
  };
  std::optional<double> time = ParseDuration(c.time_limit);
  if (!time || *time <= 0) return bad("slurm.time_limit", c.time_limit, "a time like 01:00:00");
  o.default_time_s = *time;
  std::optional<uint64_t> mem = ParseMemory(c.memory);
  if (!mem || *mem == 0) return bad("slurm.memory", c.memory, "a size like 4G or 512M");
  o.default_memory_bytes = *mem;
  std::optional<uint64_t> max_mem = ParseMemory(c.max_memory);
  if (!max_mem || *max_mem == 0) return bad("slurm.max_memory", c.max_memory, "a size like 64G");
  o.max_memory_bytes = *max_mem;
  std::optional<double> max_time = ParseDuration(c.max_time_limit);
  if (!max_time || *max_time <= 0) {
    return bad("slurm.max_time_limit", c.max_time_limit, "a time like 2-00:00:00");
  }
  o.max_time_s = *max_time;
  o.default_cpus = std::max(1, c.cpus_per_task);
  o.default_gpus = std::max(0, c.gpus_per_task);
  o.extra_args = SplitSbatchArgs(c.extra_args);
  o.export_env = c.export_env;
  o.arrays = c.arrays;
  o.max_array_size = c.max_array_size;
  if (c.dependencies == "slurm") {
    o.hold_dependents = true;
  } else if (c.dependencies != "porch") {
    return bad("slurm.dependencies", c.dependencies, "porch or slurm");
  }
  o.array_throttle = config.max_executors;
  if (!(c.poll_interval_seconds > 0)) {
    return bad("slurm.poll_interval_seconds", std::to_string(c.poll_interval_seconds),
               "a number of seconds above 0");
  }
  if (!(c.command_timeout_seconds > 0)) {
    return bad("slurm.command_timeout_seconds", std::to_string(c.command_timeout_seconds),
               "a number of seconds above 0");
  }
  o.poll_s = c.poll_interval_seconds;
  o.result_grace_s = std::max(0.0, c.result_grace_seconds);
  o.grace_s = config.kill_grace_seconds;
  if (o.porch_path.empty() || o.porch_path.front() != '/') {
    return bad("slurm.porch_path", o.porch_path, "an absolute path");
  }

  // SLURM's clients wait a minute for a slurm.conf that is not there; say
  // so at once instead.
  if (auto conf = env.find("SLURM_CONF");
      conf != env.end() && !conf->second.empty() && !PathExists(conf->second)) {
    return Status::NotFound("slurm backend: no SLURM controller answers: SLURM_CONF names '" +
                            conf->second +
                            "', which does not exist; point SLURM_CONF at the cluster's "
                            "slurm.conf (or unset it to use /etc/slurm/slurm.conf)");
  }
  SlurmClientOptions co;
  co.timeout_s = c.command_timeout_seconds;
  co.bin_dir = c.bin_dir;
  setup.runner = std::make_unique<RealCommandRunner>(SbatchEnvironment(config, env));
  setup.client = std::make_unique<SlurmClient>(setup.runner.get(), clock, co);
  if (Status st = setup.client->Ping(); !st.ok()) {
    return st.Annotate(
        "slurm backend: no SLURM controller answers (check that slurmctld runs, that SLURM_CONF "
        "names the cluster's slurm.conf, and that munge works: `scontrol ping`)");
  }
  return setup;
}

Result<std::unique_ptr<Backend>> CreateSlurmBackend(const Config& config, const RunLayout& layout,
                                                    const RunIdentity& identity, Clock* clock,
                                                    const std::map<std::string, std::string>& env) {
  Result<SlurmSetup> setup = ConnectSlurm(config, identity, clock, env);
  if (!setup.ok()) return setup.status();
  SlurmParts parts{std::move(setup->runner), std::move(setup->client)};
  return std::unique_ptr<Backend>(
      new OwningSlurmBackend(std::move(parts), layout, clock, std::move(setup->options)));
}

}  // namespace porch
