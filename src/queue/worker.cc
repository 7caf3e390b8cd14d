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

// Claims an attempt atomically: not when porch cancelled it, not twice (a
// resent XADD), and tells porch it started.
constexpr char kClaimScript[] = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'EX', ARGV[2]) then return 2 end
redis.call('XADD', KEYS[3], '*', 'type', 'started', 'task', ARGV[5], 'attempt', ARGV[6],
           'worker', ARGV[1], 'stream', ARGV[3], 'entry', ARGV[4], 'started', ARGV[7])
return 1
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
      names_{options_.prefix} {}

void Worker::Log(const std::string& line) const {
  std::time_t now = std::time(nullptr);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  std::fprintf(stderr, "%s porch worker %s: %s\n", stamp, options_.name.c_str(), line.c_str());
  std::fflush(stderr);
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
  int handed_back_at = 0;
  while (true) {
    const int stops = stop_requests_();
    if (stops >= 2 && handed_back_at < 2) {
      handed_back_at = 2;
      Log("second stop request: stopping the running attempts; porch reclaims them");
      for (Running& r : running_) kill(r.pid, SIGTERM);
    }
    Reap();
    PublishPending();
    if (clock_->Now() >= next_beat_) Heartbeat();
    FenceIfCutOff();
    const int free = options_.slots - static_cast<int>(running_.size());
    int came = 0;
    if (stops == 0 && free > 0) {
      came = Claim(free, running_.empty() ? options_.block_s : 0.02);
    } else {
      SleepForSignals(0.05);
    }
    if (!running_.empty() || came > 0) idle_since = clock_->Now();
    const bool idle = running_.empty() && unpublished_.empty();
    if (idle && stops > 0) break;
    if (idle && came == 0 && options_.once) break;
    if (idle && options_.idle_exit_s > 0 && clock_->Now() - idle_since >= options_.idle_exit_s) {
      Log("nothing to do for " + std::to_string(static_cast<long long>(options_.idle_exit_s)) + " s: exiting");
      break;
    }
    SleepForSignals(0);
  }
  redis_->Pipeline({{"DEL", names_.WorkerKey(options_.name)}, {"ZREM", names_.Workers(), options_.name}})
      .status()
      .IgnoreError();
  Log("stopped after " + std::to_string(ran_) + " attempt(s)");
  return Status::Ok();
}

int Worker::Claim(int free, double block_s) {
  RedisCommand cmd = {"XREADGROUP", "GROUP", kQueueGroup, options_.name, "COUNT", std::to_string(free)};
  if (block_s > 0) {
    cmd.push_back("BLOCK");
    cmd.push_back(std::to_string(std::max(1, static_cast<int>(block_s * 1000))));
  }
  cmd.push_back("STREAMS");
  for (const std::string& cls : options_.classes) cmd.push_back(names_.ClassStream(cls));
  for (size_t i = 0; i < options_.classes.size(); ++i) cmd.push_back(">");
  Result<RedisReply> r = redis_->Command(cmd);
  if (!r.ok()) {
    Log("cannot reach Redis (" + r.status().message() + "); retrying");
    SleepForSignals(1);
    return 0;
  }
  if (r->is_error()) {
    if (r->str.find("NOGROUP") != std::string::npos) {
      JoinGroups().IgnoreError();  // the streams were removed (a flushed or restarted Redis)
    } else {
      Log("XREADGROUP: " + r->str);
    }
    SleepForSignals(1);
    return 0;
  }
  std::vector<std::pair<std::string, StreamEntry>> got;
  for (auto& [stream, entries] : StreamEntries(*r)) {
    for (StreamEntry& e : entries) got.push_back({stream, std::move(e)});
  }
  Take(got);
  return static_cast<int>(got.size());
}

void Worker::DeadLetter(const std::string& stream, const StreamEntry& e, const std::string& why) {
  ++dead_lettered_;
  Log("dead-lettered message " + e.id + " of " + stream + ": " + why);
  RedisCommand add = {"XADD", names_.DeadLetters(), "MAXLEN", "~", "10000", "*", "stream", stream,
                      "entry", e.id, "error", why, "worker", options_.name};
  for (const RedisReply& f : e.fields.elements) add.push_back(f.text());
  redis_->Pipeline({{"MULTI"}, add, {"XACK", stream, kQueueGroup, e.id}, {"XDEL", stream, e.id}, {"EXEC"}})
      .status()
      .IgnoreError();
}

void Worker::Take(const std::vector<std::pair<std::string, StreamEntry>>& got) {
  // Every claim of the batch in one round trip.
  struct Claimed {
    const std::string* stream;
    const StreamEntry* entry;
    AttemptMessage m;
  };
  std::vector<Claimed> valid;
  std::vector<RedisCommand> cmds;
  for (const auto& [stream, e] : got) {
    Result<AttemptMessage> m = DecodeAttempt(e.fields);
    if (!m.ok()) {
      DeadLetter(stream, e, m.status().message());
      continue;
    }
    const QueueNames names{m->prefix};
    cmds.push_back({"EVAL", kClaimScript, "3", names.CancelKey(m->run_uid, m->task_id, m->attempt),
                    names.ClaimKey(m->run_uid, m->task_id, m->attempt), m->results, options_.name,
                    std::to_string(kClaimTtlSeconds), stream, e.id, m->task_id, std::to_string(m->attempt),
                    Fixed(clock_->Now())});
    valid.push_back({&stream, &e, std::move(*m)});
  }
  if (valid.empty()) return;
  Result<std::vector<RedisReply>> claims = redis_->Pipeline(cmds);
  for (size_t i = 0; i < valid.size(); ++i) {
    const std::string& stream = *valid[i].stream;
    const std::string& id = valid[i].entry->id;
    const AttemptMessage& m = valid[i].m;
    ResultMessage never;
    never.task_id = m.task_id;
    never.attempt = m.attempt;
    never.worker = options_.name;
    never.entry = id;
    if (!claims.ok() || (*claims)[i].is_error()) {
      // Not claimed: left pending under this worker; porch reclaims it after
      // the visibility timeout as a new attempt.
      Log("could not claim " + id + ": " + (claims.ok() ? (*claims)[i].str : claims.status().message()));
      continue;
    }
    const long long verdict = (*claims)[i].integer;
    if (verdict == 2) {
      Log("attempt " + std::to_string(m.attempt) + " of " + m.task_id +
          " is claimed already (a resent message): dropped");
      redis_->Pipeline({{"XACK", stream, kQueueGroup, id}, {"XDEL", stream, id}}).status().IgnoreError();
    } else if (verdict == 0) {
      never.exit_code = -2;
      never.detail = "cancelled before it started";
      unpublished_.push_back({stream, id, m.results, never});
    } else if (!IsDirectory(m.run_dir)) {
      never.exit_code = -3;
      never.detail = "the run directory " + m.run_dir + " is not on worker " + options_.name +
                     " (the queue backend needs a filesystem shared with porch)";
      unpublished_.push_back({stream, id, m.results, never});
    } else {
      Start(stream, id, m);
    }
  }
}

void Worker::Start(const std::string& stream, const std::string& entry, const AttemptMessage& m) {
  if (options_.run_inline) {
    ResultMessage done;
    done.task_id = m.task_id;
    done.attempt = m.attempt;
    done.worker = options_.name;
    done.entry = entry;
    done.started_at = clock_->Now();
    done.exit_code = options_.run_inline(m);
    done.ended_at = clock_->Now();
    ++ran_;
    unpublished_.push_back({stream, entry, m.results, done});
    return;
  }
  Result<std::function<int()>> prepared =
      options_.prepare_in_process ? options_.prepare_in_process(m)
                                  : Result<std::function<int()>>(Status::Internal("no way to run attempts"));
  if (!prepared.ok()) {
    ResultMessage refused;
    refused.task_id = m.task_id;
    refused.attempt = m.attempt;
    refused.worker = options_.name;
    refused.entry = entry;
    refused.exit_code = -3;
    refused.detail = "worker " + options_.name + " could not start it: " + prepared.status().message();
    unpublished_.push_back({stream, entry, m.results, refused});
    return;
  }
  const std::function<int()>& in_process = *prepared;
  const std::string dir = m.run_dir + "/tasks/" + m.task_id + "/attempt-" + std::to_string(m.attempt);
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
    ResultMessage failed;
    failed.task_id = m.task_id;
    failed.attempt = m.attempt;
    failed.worker = options_.name;
    failed.entry = entry;
    failed.exit_code = -3;
    failed.detail = "worker " + options_.name + " could not fork";
    unpublished_.push_back({stream, entry, m.results, failed});
    return;
  }
  ++ran_;
  running_.push_back({pid, stream, entry, m, clock_->Now(), false, false});
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
    res.task_id = r.msg.task_id;
    res.attempt = r.msg.attempt;
    res.worker = options_.name;
    res.entry = r.entry;
    res.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    res.started_at = r.started_at;
    res.ended_at = clock_->Now();
    res.lost = r.fenced;
    unpublished_.push_back({r.stream, r.entry, r.msg.results, res});
    running_.erase(running_.begin() + static_cast<std::ptrdiff_t>(i));
  }
}

void Worker::PublishPending() {
  if (unpublished_.empty()) return;
  std::vector<RedisCommand> cmds;
  for (const Unpublished& u : unpublished_) {
    RedisCommand add = {"XADD", u.results, "*", "type", "result"};
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
    SleepForSignals(0.5);
    return;  // kept; the attempts' result files are safe on disk meanwhile
  }
  unpublished_.clear();
}

void Worker::FenceIfCutOff() {
  for (Running& r : running_) {
    // Its entry was last renewed by the latest heartbeat, or by its claim.
    const double renewed = std::max(last_beat_ok_, r.started_at);
    if (r.kill_sent || clock_->Now() - renewed < options_.visibility_s / 2) continue;
    Log("no heartbeat got through for " + std::to_string(static_cast<int>(clock_->Now() - renewed)) +
        " s: stopping attempt " + std::to_string(r.msg.attempt) + " of " + r.msg.task_id +
        " (porch runs it again)");
    kill(r.pid, SIGTERM);
    r.kill_sent = true;
    r.fenced = true;
  }
}

void Worker::Heartbeat() {
  next_beat_ = clock_->Now() + options_.visibility_s / 3;
  std::vector<RedisCommand> cmds;
  for (const Running& r : running_) {
    const QueueNames names{r.msg.prefix};
    cmds.push_back({"XCLAIM", r.stream, kQueueGroup, options_.name, "0", r.entry, "JUSTID"});
    cmds.push_back({"EXISTS", names.CancelKey(r.msg.run_uid, r.msg.task_id, r.msg.attempt)});
  }
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  nlohmann::json beat = {{"name", options_.name}, {"host", host}, {"pid", getpid()},
                         {"slots", options_.slots}, {"labels", options_.labels},
                         {"running", static_cast<int>(running_.size())}, {"beat", clock_->Now()}};
  const int ttl = std::max(3, static_cast<int>(std::ceil(options_.visibility_s * 3)));
  cmds.push_back({"SET", names_.WorkerKey(options_.name), beat.dump(), "EX", std::to_string(ttl)});
  cmds.push_back({"ZADD", names_.Workers(), Fixed(clock_->Now()), options_.name});
  Result<std::vector<RedisReply>> r = redis_->Pipeline(cmds);
  if (!r.ok()) {
    Log("heartbeat failed: " + r.status().message());
    next_beat_ = clock_->Now() + std::min(1.0, options_.visibility_s / 6);
    return;
  }
  last_beat_ok_ = clock_->Now();
  for (size_t i = 0; i < running_.size(); ++i) {
    Running& run = running_[i];
    const RedisReply& claimed = (*r)[2 * i];
    const bool lost = claimed.is_array() && claimed.elements.empty();
    const bool cancelled = (*r)[2 * i + 1].integer == 1;
    if ((lost || cancelled) && !run.kill_sent) {
      Log(std::string(lost ? "lost" : "cancelled") + ": attempt " + std::to_string(run.msg.attempt) + " of " +
          run.msg.task_id + (lost ? " was reclaimed by porch (this worker missed its heartbeats)" : "") +
          "; stopping it");
      kill(run.pid, SIGTERM);
      run.kill_sent = true;
    }
  }
}

}  // namespace porch
