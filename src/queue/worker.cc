#include "queue/worker.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "platform/files.h"

namespace porch {

namespace {

constexpr int kClaimTtlSeconds = 7 * 86400;

// Claims an attempt atomically: only while the entry is still pending
// under this worker (3: porch took it back meanwhile), not when porch
// cancelled it (0), not twice (2: a resent XADD, another entry of the same
// attempt); it resets the entry's idle time and tells porch it started.
// Run twice by the same worker for the same entry, it answers 1 again and
// sends nothing more. KEYS: cancel key, claim key, result stream; ARGV:
// worker, ttl, stream, entry, task, attempt, now.
constexpr char kClaimScript[] = R"lua(
local p = redis.call('XPENDING', ARGV[3], 'porch-workers', ARGV[4], ARGV[4], 1)
if #p == 0 or p[1][2] ~= ARGV[1] then return 3 end
redis.call('XCLAIM', ARGV[3], 'porch-workers', ARGV[1], 0, ARGV[4], 'JUSTID')
local me = ARGV[1] .. '|' .. ARGV[4]
if redis.call('GET', KEYS[2]) == me then return 1 end
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if not redis.call('SET', KEYS[2], me, 'NX', 'EX', ARGV[2]) then return 2 end
redis.call('XADD', KEYS[3], 'NOMKSTREAM', '*', 'type', 'started', 'task', ARGV[5], 'attempt', ARGV[6],
           'worker', ARGV[1], 'stream', ARGV[3], 'entry', ARGV[4], 'started', ARGV[7])
return 1
)lua";

// The heartbeat: renews each entry still pending under this worker (and
// only those: an entry Redis handed to another consumer is not taken
// back) and says which porch cancelled. ARGV: worker, then per entry
// stream, id, cancel key. Per entry: 1 renewed, 2 renewed and cancelled,
// 0 no longer this worker's.
constexpr char kBeatScript[] = R"lua(
local out = {}
for i = 2, #ARGV, 3 do
  local p = redis.call('XPENDING', ARGV[i], 'porch-workers', ARGV[i + 1], ARGV[i + 1], 1)
  if #p == 0 or p[1][2] ~= ARGV[1] then
    out[#out + 1] = 0
  else
    redis.call('XCLAIM', ARGV[i], 'porch-workers', ARGV[1], 0, ARGV[i + 1], 'JUSTID')
    if redis.call('EXISTS', ARGV[i + 2]) == 1 then out[#out + 1] = 2 else out[#out + 1] = 1 end
  end
end
return out
)lua";

std::string Fixed(double v) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.6f", v);
  return buf;
}

// Lets pending signals (SIGTERM, SIGCHLD) be delivered, sleeping up to
// `seconds`; returns early when one arrives.
void SleepForSignals(double seconds) {
  sigset_t none;
  sigemptyset(&none);
  timespec ts;
  ts.tv_sec = static_cast<time_t>(seconds);
  ts.tv_nsec = static_cast<long>((seconds - std::floor(seconds)) * 1e9);
  ppoll(nullptr, 0, &ts, &none);
}

}  // namespace

Worker::Worker(RedisClient* redis, Clock* clock, WorkerOptions options, std::function<int()> stop_requests)
    : redis_(redis),
      clock_(clock),
      options_(std::move(options)),
      stop_requests_(std::move(stop_requests)),
      names_{options_.prefix} {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  host_ = host;
}

void Worker::Log(const std::string& line) const {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::fprintf(stderr, "%s porch worker %s: %s\n", stamp, options_.name.c_str(), line.c_str());
  std::fflush(stderr);
}

double Worker::Visibility() const {
  double vis = options_.visibility_s;
  for (const Running& r : running_) vis = std::min(vis, r.held.visibility);
  for (const Held& h : backlog_) vis = std::min(vis, h.visibility);
  return vis;
}

void Worker::BoundCalls() {
  const double t = std::min(options_.call_timeout_s, Visibility() / 8);
  if (t == call_timeout_now_) return;
  call_timeout_now_ = t;
  redis_->SetTimeout(t);
}

Status Worker::JoinGroups() {
  std::vector<RedisCommand> cmds;
  for (const std::string& cls : options_.classes) {
    cmds.push_back({"XGROUP", "CREATE", names_.ClassStream(cls), kQueueGroup, "0", "MKSTREAM"});
  }
  Result<std::vector<RedisReply>> r = redis_->Pipeline(cmds);
  if (!r.ok()) return r.status();
  for (const RedisReply& reply : *r) {
    if (reply.is_error() && reply.str.find("BUSYGROUP") == std::string::npos) {
      return Status::Unavailable("joining the consumer group: " + reply.str);
    }
  }
  return Status::Ok();
}

Status Worker::Run() {
  if (Status st = JoinGroups(); !st.ok()) return st;
  std::string streams;
  for (const std::string& cls : options_.classes) streams += (streams.empty() ? "" : ", ") + names_.ClassStream(cls);
  Log("serving " + std::to_string(options_.slots) + " slot(s) from " + streams);
  double idle_since = clock_->Now();
  bool handed_back = false;
  bool told_stop = false;
  while (true) {
    const int stops = stop_requests_();
    if (stops >= 1 && !told_stop) {
      // Signals of one kind do not queue: a second one sent before this
      // line is printed may merge with the first (docs/queue.md).
      told_stop = true;
      Log("asked to stop: taking nothing more, finishing " + std::to_string(running_.size()) +
          " running attempt(s); a second SIGTERM or SIGINT stops them and hands them back");
    }
    if (stops >= 2 && !handed_back) {
      handed_back = true;
      for (Running& r : running_) Stop(r, /*lost=*/true, "second stop request");
    }
    BoundCalls();
    Reap();
    PublishPending();
    if (clock_->Now() >= next_beat_) Heartbeat();
    FenceIfCutOff();
    if (stops == 0) StartFromBacklog();
    const int free = options_.slots - static_cast<int>(running_.size() + backlog_.size());
    int came = 0;
    if (stops == 0 && free > 0) {
      came = Read(free, running_.empty() ? options_.block_s : 0.02);
      FenceIfCutOff();  // the read may have blocked
      StartFromBacklog();
    } else {
      SleepForSignals(0.05);
    }
    if (!running_.empty() || came > 0) idle_since = clock_->Now();
    const bool idle = running_.empty() && unpublished_.empty() && backlog_.empty();
    if (stops > 0 && running_.empty() && unpublished_.empty()) break;
    if (idle && came == 0 && options_.once) break;
    if (idle && options_.idle_exit_s > 0 && clock_->Now() - idle_since >= options_.idle_exit_s) {
      Log("nothing to do for " + std::to_string(static_cast<long long>(options_.idle_exit_s)) + " s: exiting");
      break;
    }
    SleepForSignals(0);
  }
  if (!backlog_.empty()) {
    Log(std::to_string(backlog_.size()) + " attempt(s) taken but not started are left to porch, which takes "
        "them back after the visibility timeout");
  }
  redis_->Pipeline({{"DEL", names_.WorkerKey(options_.name)}, {"ZREM", names_.Workers(), options_.name}})
      .status()
      .IgnoreError();
  Log("stopped after " + std::to_string(ran_) + " attempt(s)");
  return Status::Ok();
}

int Worker::Read(int want, double block_s) {
  FenceIfCutOff();
  RedisCommand cmd = {"XREADGROUP", "GROUP", kQueueGroup, options_.name, "COUNT", std::to_string(want)};
  block_s = std::min(block_s, call_timeout_now_ > 0 ? call_timeout_now_ / 2 : block_s);  // the read must not time out
  if (block_s > 0) {
    cmd.push_back("BLOCK");
    cmd.push_back(std::to_string(std::max(1, static_cast<int>(block_s * 1000))));
  }
  cmd.push_back("STREAMS");
  for (const std::string& cls : options_.classes) cmd.push_back(names_.ClassStream(cls));
  for (size_t i = 0; i < options_.classes.size(); ++i) cmd.push_back(">");
  Result<RedisReply> r = redis_->Command(cmd);
  const double pause = std::min(1.0, options_.visibility_s / 12);
  if (!r.ok()) {
    Log("cannot reach Redis (" + r.status().message() + "); retrying");
    SleepForSignals(pause);
    return 0;
  }
  if (r->is_error()) {
    if (r->str.find("NOGROUP") != std::string::npos) {
      JoinGroups().IgnoreError();  // the streams were removed (a flushed or restarted Redis)
    } else {
      Log("XREADGROUP: " + r->str);
    }
    SleepForSignals(pause);
    return 0;
  }
  int came = 0;
  for (auto& [stream, entries] : StreamEntries(*r)) {
    for (StreamEntry& e : entries) {
      ++came;
      Result<AttemptMessage> m = DecodeAttempt(e.fields);
      if (!m.ok()) {
        DeadLetter(stream, e, m.status().message());
        continue;
      }
      const double vis = m->visibility_s > 0 ? std::min(m->visibility_s, options_.visibility_s) : options_.visibility_s;
      backlog_.push_back({stream, e.id, std::move(*m), clock_->Now(), vis});
    }
  }
  return came;
}

void Worker::DeadLetter(const std::string& stream, const StreamEntry& e, const std::string& why) {
  ++dead_lettered_;
  Log("dead-lettered message " + e.id + " of " + stream + ": " + why);
  RedisCommand add = {"XADD", names_.DeadLetters(), "MAXLEN", "~", "10000", "*", "stream", stream,
                      "entry", e.id, "error", why, "worker", options_.name};
  for (const RedisReply& f : e.fields.elements) add.push_back(f.text());
  // A run that can be told (its result stream, task and attempt are
  // readable) hears why its attempt will not run, instead of waiting for it.
  Result<Held> told = ReadableEnough(stream, e);
  if (told.ok()) {
    redis_->Command(add).status().IgnoreError();
    Unstarted(*told, -3, "worker " + options_.name + " could not read its message: " + why);
    return;  // the publish acknowledges and deletes it
  }
  redis_->Pipeline({{"MULTI"}, add, {"XACK", stream, kQueueGroup, e.id}, {"XDEL", stream, e.id}, {"EXEC"}})
      .status()
      .IgnoreError();
}

Result<Worker::Held> Worker::ReadableEnough(const std::string& stream, const StreamEntry& e) const {
  AttemptMessage m;
  m.run_uid = FieldOf(e.fields, "uid");
  m.task_id = FieldOf(e.fields, "task");
  m.results = FieldOf(e.fields, "results");
  m.prefix = FieldOf(e.fields, "prefix");
  m.attempt = std::atoi(FieldOf(e.fields, "attempt").c_str());
  // Only into the run's own result stream, as a valid message would say.
  if (m.run_uid.empty() || m.task_id.empty() || m.attempt < 1 || m.prefix.empty() ||
      m.results != QueueNames{m.prefix}.Results(m.run_uid)) {
    return Status::InvalidArgument("not enough to tell the run");
  }
  return Held{stream, e.id, m, clock_->Now(), options_.visibility_s};
}

void Worker::Unstarted(const Held& h, int code, const std::string& detail) {
  ResultMessage never;
  never.task_id = h.msg.task_id;
  never.attempt = h.msg.attempt;
  never.worker = options_.name;
  never.entry = h.entry;
  never.exit_code = code;
  never.detail = detail;
  unpublished_.push_back({h.stream, h.entry, h.msg.results, never});
}

void Worker::StartFromBacklog() {
  const size_t free = static_cast<size_t>(std::max(0, options_.slots - static_cast<int>(running_.size())));
  const size_t n = std::min(free, backlog_.size());
  if (n == 0) return;
  FenceIfCutOff();
  // Every claim of the batch in one round trip.
  std::vector<RedisCommand> cmds;
  for (size_t i = 0; i < n; ++i) {
    const Held& h = backlog_[i];
    const AttemptMessage& m = h.msg;
    const QueueNames names{m.prefix};
    cmds.push_back({"EVAL", kClaimScript, "3", names.CancelKey(m.run_uid, m.task_id, m.attempt),
                    names.ClaimKey(m.run_uid, m.task_id, m.attempt), m.results, options_.name,
                    std::to_string(kClaimTtlSeconds), h.stream, h.entry, m.task_id, std::to_string(m.attempt),
                    Fixed(clock_->Now())});
  }
  Result<std::vector<RedisReply>> claims = redis_->Pipeline(cmds);
  if (!claims.ok()) {
    Log("could not claim " + std::to_string(n) + " attempt(s) yet: " + claims.status().message());
    return;  // kept in the backlog (the heartbeat holds them), tried again
  }
  std::vector<Held> taken(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(n));
  backlog_.erase(backlog_.begin(), backlog_.begin() + static_cast<std::ptrdiff_t>(n));
  for (size_t i = 0; i < n; ++i) {
    const Held& h = taken[i];
    const AttemptMessage& m = h.msg;
    const RedisReply& verdict = (*claims)[i];
    if (verdict.is_error() || verdict.type != RedisReply::Type::kInteger) {
      Log("could not claim " + h.entry + ": " + verdict.str + "; tried again");
      backlog_.push_back(h);
    } else if (verdict.integer == 3) {
      Log("attempt " + std::to_string(m.attempt) + " of " + m.task_id +
          " was taken back by porch before it started (this worker missed its heartbeats): dropped");
    } else if (verdict.integer == 2) {
      Log("attempt " + std::to_string(m.attempt) + " of " + m.task_id +
          " is claimed already (a resent message): dropped");
      redis_->Pipeline({{"XACK", h.stream, kQueueGroup, h.entry}, {"XDEL", h.stream, h.entry}}).status().IgnoreError();
    } else if (verdict.integer == 0) {
      Unstarted(h, -2, "cancelled before it started");
    } else if (m.stage.empty() && !IsDirectory(m.run_dir)) {
      Unstarted(h, -3, "the run directory " + m.run_dir + " is not on worker " + options_.name +
                           " (the queue backend needs a filesystem shared with porch)");
    } else {
      Held started = h;
      started.renewed = clock_->Now();
      Start(started);
    }
  }
}

void Worker::Start(const Held& h) {
  const AttemptMessage& m = h.msg;
  if (options_.run_inline) {
    ResultMessage done;
    done.task_id = m.task_id;
    done.attempt = m.attempt;
    done.worker = options_.name;
    done.entry = h.entry;
    done.started_at = clock_->Now();
    done.exit_code = options_.run_inline(m);
    done.ended_at = clock_->Now();
    ++ran_;
    unpublished_.push_back({h.stream, h.entry, m.results, done});
    return;
  }
  Result<std::function<int()>> prepared =
      options_.prepare_in_process ? options_.prepare_in_process(m)
                                  : Result<std::function<int()>>(Status::Internal("no way to run attempts"));
  if (!prepared.ok()) {
    Unstarted(h, -3, "worker " + options_.name + " could not start it: " + prepared.status().message());
    return;
  }
  const std::function<int()>& in_process = *prepared;
  const std::string dir =
      WorkerRunDir(m, options_.work_dir) + "/tasks/" + m.task_id + "/attempt-" + std::to_string(m.attempt);
  MakeDirs(dir).IgnoreError();
  int log = open((dir + "/worker.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    // The child of a single-threaded process: dies with the worker.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(1);
    setpgid(0, 0);  // a terminal's Ctrl-C reaches the worker, which decides
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, 0);
    if (log >= 0) {
      dup2(log, 1);
      dup2(log, 2);
    }
    close_range(3, ~0U, 0);  // the Redis connection is the worker's alone
    // As exec-task's main() does: the attempt runner takes these signals
    // itself (a SIGTERM is a cancellation that still leaves a result file).
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) sigaddset(&mask, sig);
    sigprocmask(SIG_SETMASK, &mask, nullptr);
    signal(SIGCHLD, SIG_DFL);
    _exit(in_process());
  }
  if (log >= 0) close(log);
  if (pid < 0) {
    Unstarted(h, -3, "worker " + options_.name + " could not fork");
    return;
  }
  ++ran_;
  running_.push_back({h, pid, clock_->Now(), false, false});
}

void Worker::Reap() {
  for (size_t i = 0; i < running_.size();) {
    int status = 0;
    pid_t done = waitpid(running_[i].pid, &status, WNOHANG);
    if (done != running_[i].pid) {
      ++i;
      continue;
    }
    const Running& r = running_[i];
    ResultMessage res;
    res.task_id = r.held.msg.task_id;
    res.attempt = r.held.msg.attempt;
    res.worker = options_.name;
    res.entry = r.held.entry;
    res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    res.started_at = r.started_at;
    res.ended_at = clock_->Now();
    res.lost = r.fenced;
    if (!r.held.msg.stage.empty() && (res.exit_code == kWorkerStageInFailed || res.exit_code == kWorkerStageOutFailed)) {
      res.detail = "worker " + options_.name + " could not " +
                   (res.exit_code == kWorkerStageInFailed ? "fetch the run's inputs from " : "send the attempt to ") +
                   r.held.msg.stage + " (its log: " + WorkerRunDir(r.held.msg, options_.work_dir) + "/tasks/" +
                   res.task_id + "/attempt-" + std::to_string(res.attempt) + "/worker.log on that worker)";
    }
    unpublished_.push_back({r.held.stream, r.held.entry, r.held.msg.results, res});
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void Worker::PublishPending() {
  if (unpublished_.empty()) return;
  FenceIfCutOff();
  std::vector<RedisCommand> cmds;
  for (const Unpublished& u : unpublished_) {
    // NOMKSTREAM: a run porch has closed gets nothing re-created.
    RedisCommand add = {"XADD", u.results, "NOMKSTREAM", "*", "type", "result"};
    for (std::string& f : EncodeResult(u.result)) add.push_back(std::move(f));
    cmds.push_back({"MULTI"});
    cmds.push_back(std::move(add));
    cmds.push_back({"XACK", u.stream, kQueueGroup, u.entry});
    cmds.push_back({"XDEL", u.stream, u.entry});
    cmds.push_back({"EXEC"});
  }
  Result<std::vector<RedisReply>> r = redis_->Pipeline(cmds);
  if (!r.ok()) {
    Log("cannot publish " + std::to_string(unpublished_.size()) + " result(s) yet: " + r.status().message());
    SleepForSignals(std::min(0.5, options_.visibility_s / 12));
    return;  // kept; the attempts' result files are safe on disk meanwhile
  }
  // Each transaction's EXEC answers an array when it ran; an error (the
  // server loading its AOF, out of memory) or nil keeps the result for the
  // next try.
  std::vector<Unpublished> left;
  for (size_t i = 0; i < unpublished_.size(); ++i) {
    const RedisReply& exec = (*r)[5 * i + 4];
    if (!exec.is_array()) {
      Log("result of " + unpublished_[i].result.task_id + " not published yet: " +
          (exec.str.empty() ? (*r)[5 * i + 1].str : exec.str));
      left.push_back(std::move(unpublished_[i]));
    }
  }
  unpublished_ = std::move(left);
  if (!unpublished_.empty()) SleepForSignals(std::min(0.5, options_.visibility_s / 12));
}

void Worker::Stop(Running& r, bool lost, const std::string& why) {
  if (r.kill_sent) return;
  Log(why + ": stopping attempt " + std::to_string(r.held.msg.attempt) + " of " + r.held.msg.task_id +
      (lost ? " (porch runs it again, not charged)" : ""));
  kill(r.pid, SIGTERM);
  r.kill_sent = true;
  r.fenced = lost;
}

void Worker::FenceIfCutOff() {
  const double now = clock_->Now();
  for (Running& r : running_) {
    if (r.kill_sent || now - r.held.renewed < r.held.visibility / 3) continue;
    Stop(r, /*lost=*/true,
         "no heartbeat got through for " + std::to_string(static_cast<int>(now - r.held.renewed)) + " s");
  }
}

void Worker::Heartbeat() {
  FenceIfCutOff();
  const double vis = Visibility();
  next_beat_ = clock_->Now() + vis / 6;
  const double sent_at = clock_->Now();
  RedisCommand beat = {"EVAL", kBeatScript, "0", options_.name};
  auto add = [&](const Held& h) {
    beat.push_back(h.stream);
    beat.push_back(h.entry);
    beat.push_back(QueueNames{h.msg.prefix}.CancelKey(h.msg.run_uid, h.msg.task_id, h.msg.attempt));
  };
  for (const Running& r : running_) add(r.held);
  for (const Held& h : backlog_) add(h);
  // Finished, result not published yet (Redis loading, say): held too, so
  // porch does not take back and run again what is done.
  for (const Unpublished& u : unpublished_) {
    beat.push_back(u.stream);
    beat.push_back(u.entry);
    beat.push_back("");
  }
  nlohmann::json me = {{"name", options_.name}, {"host", host_}, {"pid", getpid()},
                       {"slots", options_.slots}, {"labels", options_.labels},
                       {"running", static_cast<int>(running_.size())}, {"beat", clock_->Now()}};
  const int ttl = std::max(3, static_cast<int>(std::ceil(options_.visibility_s * 3)));
  Result<std::vector<RedisReply>> r = redis_->Pipeline(
      {beat, {"SET", names_.WorkerKey(options_.name), me.dump(), "EX", std::to_string(ttl)},
       {"ZADD", names_.Workers(), Fixed(clock_->Now()), options_.name}});
  const size_t held = running_.size() + backlog_.size() + unpublished_.size();
  if (!r.ok() || !(*r)[0].is_array() || (*r)[0].elements.size() != held) {
    Log("heartbeat failed: " + (r.ok() ? (*r)[0].str : r.status().message()));
    next_beat_ = clock_->Now() + std::min(1.0, vis / 12);
    return;
  }
  const std::vector<RedisReply>& verdicts = (*r)[0].elements;
  for (size_t i = 0; i < running_.size(); ++i) {
    Running& run = running_[i];
    const long long v = verdicts[i].integer;
    if (v != 0) run.held.renewed = sent_at;
    if (v == 0) Stop(run, /*lost=*/false, "reclaimed by porch (this worker missed its heartbeats)");
    if (v == 2) Stop(run, /*lost=*/false, "cancelled by porch");
  }
  std::vector<Held> kept;
  for (size_t i = 0; i < backlog_.size(); ++i) {  // (the unpublished ones' verdicts change nothing)
    if (verdicts[running_.size() + i].integer == 0) continue;  // reclaimed meanwhile: not ours to start
    backlog_[i].renewed = sent_at;
    kept.push_back(std::move(backlog_[i]));
  }
  backlog_ = std::move(kept);
}

}  // namespace porch
