// `porch worker`: flags and configuration to a Worker (src/queue/worker.h).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include <sys/stat.h>

#include <map>
#include <memory>

#include "backend/aws/aws_backend.h"
#include "backend/aws/node_staging.h"
#include "backend/queue/queue_backend.h"
#include "exec/attempt.h"
#include "exec/run_attempts.h"
#include "cli/commands.h"
#include "config/config.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "platform/signals.h"
#include "queue/worker.h"

namespace porch {

namespace {

std::string DefaultName() {
  char host[256] = "";
  gethostname(host, sizeof host - 1);
  std::random_device rd;
  char suffix[16];
  std::snprintf(suffix, sizeof suffix, "%04x", rd() & 0xffff);
  return std::string(host) + "-" + std::to_string(getpid()) + "-" + suffix;
}

std::string TempDirectory() {
  const char* tmp = getenv("TMPDIR");
  return tmp != nullptr && tmp[0] == '/' ? tmp : "/tmp";
}

std::vector<std::string> SplitLabels(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    std::string part = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!part.empty()) out.push_back(part);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The runs this worker has attempts of, each loaded once (plan.json and
// config.json parsed; what exec-task does per attempt). A run is loaded
// again when its config.json changed (a resume with other flags); at most
// kKeep are kept.
class LoadedRuns {
 public:
  LoadedRuns(std::string work_dir, AwsConfig aws) : work_dir_(std::move(work_dir)), aws_(std::move(aws)) {}

  Result<std::function<int()>> Prepare(const AttemptMessage& m) {
    if (!m.stage.empty()) return PrepareStaged(m);
    Result<RunAttempts*> run = Get(m.run_dir);
    if (!run.ok()) return run.status();
    Result<AttemptSpec> spec = (*run)->Prepare(m.task_id, m.attempt, m.time_limit_s, m.grace_s);
    if (!spec.ok()) return spec.status();
    return std::function<int()>([spec = std::move(*spec)] { return RunAttempt(spec); });
  }

 private:
  // A run staged through S3: the child fetches the inputs into a node
  // directory of its own, loads the run from there (each attempt has its
  // own copy), runs the attempt and sends it back; the directory goes
  // unless PORCH_KEEP_NODE_DIR is set or something failed. Only stages in
  // the worker's own bucket (aws.s3_bucket): whoever can write to Redis
  // must not be able to make the worker fetch a plan from, and send files
  // to, a bucket of theirs with the worker's credentials.
  Result<std::function<int()>> PrepareStaged(const AttemptMessage& m) const {
    StagedAttempt a;
    if (!ParseS3Url(m.stage, &a.bucket, &a.base) || a.base.empty()) {
      return Status::InvalidArgument("'" + m.stage + "' is not an s3://bucket/prefix address");
    }
    if (aws_.s3_bucket.empty() || a.bucket != aws_.s3_bucket) {
      return Status::InvalidArgument("the run is staged in bucket '" + a.bucket + "', and this worker only uses " +
                                     (aws_.s3_bucket.empty() ? std::string("the bucket its aws.s3_bucket names (unset)")
                                                             : "its own bucket '" + aws_.s3_bucket + "'") +
                                     ": start it with PORCH_AWS_S3_BUCKET=" + a.bucket + " if that one is trusted");
    }
    a.node = WorkerRunDir(m, work_dir_);
    a.task = m.task_id;
    a.attempt = m.attempt;
    return std::function<int()>([a, aws = aws_, limit = m.time_limit_s, grace = m.grace_s] {
      return RunStaged(a, aws, limit, grace);
    });
  }
  // Calls `step` with an S3 client made for it: credentials looked up
  // again (a role's keys expire during a long attempt), and the connection
  // closed before the attempt runs (its commands inherit no socket).
  static Status WithS3(const AwsConfig& aws, const std::function<Status(ObjectStore&)>& step) {
    Result<S3Options> o = S3OptionsFrom(aws, CurrentEnvironment());
    if (!o.ok()) return o.status().Annotate("S3 credentials");
    RealClock clock;
    CurlHttpClient http;
    S3Client s3(&http, &clock, *o);
    return step(s3);
  }
  // In the attempt's child.
  static int RunStaged(const StagedAttempt& a, const AwsConfig& aws, double limit_s, double grace_s) {
    auto fail = [](int code, const Status& st) {
      std::fprintf(stderr, "porch worker: %s\n", st.message().c_str());
      return code;
    };
    // Until the attempt starts, a stop request (the worker dying, fenced or
    // asked twice) ends the child at once: nothing has run, nothing to
    // send. The worker blocked these signals for RunAttempt, which takes
    // them itself; afterwards the inherited no-op handler is back, so a
    // signal let through while the send-back sleeps between S3 retries
    // (the clock's ppoll) cannot kill a finished attempt before its result
    // is sent.
    constexpr int kStops[] = {SIGTERM, SIGINT, SIGHUP};
    struct sigaction dfl {}, saved[3];
    dfl.sa_handler = SIG_DFL;
    sigset_t stops, before;
    sigemptyset(&stops);
    for (int i = 0; i < 3; ++i) {
      sigaddset(&stops, kStops[i]);
      sigaction(kStops[i], &dfl, &saved[i]);
    }
    sigprocmask(SIG_UNBLOCK, &stops, &before);
    std::map<std::string, FileDigest> seed;
    Status in = WithS3(aws, [&](ObjectStore& s3) {
      Result<std::map<std::string, FileDigest>> fetched = StageIn(s3, a);
      if (fetched.ok()) seed = std::move(*fetched);
      return fetched.status();
    });
    sigprocmask(SIG_SETMASK, &before, nullptr);
    for (int i = 0; i < 3; ++i) sigaction(kStops[i], &saved[i], nullptr);
    if (!in.ok()) return fail(kWorkerStageInFailed, in);
    int rc = kExecNoResult;
    Result<std::unique_ptr<RunAttempts>> run = RunAttempts::Load(a.node, AttemptEnvironment());
    Result<AttemptSpec> spec = run.ok() ? (*run)->Prepare(a.task, a.attempt, limit_s, grace_s)
                                        : Result<AttemptSpec>(run.status());
    if (spec.ok()) {
      rc = RunAttempt(*spec);
    } else {
      // As exec-task answers: a failure of the task, charged (not "no
      // room", which would run it again and again).
      rc = fail(spec.status().code() == Status::Code::kInvalidArgument ? kExecUsage : kExecNoResult, spec.status());
    }
    // Sent also when the attempt failed: its logs say why.
    Status out = WithS3(aws, [&](ObjectStore& s3) { return StageOut(s3, a, seed); });
    if (!out.ok() && out.code() != Status::Code::kNotFound) return fail(kWorkerStageOutFailed, out);
    if (getenv("PORCH_KEEP_NODE_DIR") == nullptr || *getenv("PORCH_KEEP_NODE_DIR") == '\0') {
      std::error_code ec;
      std::filesystem::remove_all(a.node, ec);
      rmdir(std::filesystem::path(a.node).parent_path().c_str());  // the run's, once empty
    }
    return rc;
  }

  static constexpr size_t kKeep = 8;
  struct Entry {
    std::string stamp;  // config.json's mtime and size
    std::unique_ptr<RunAttempts> run;
    uint64_t used = 0;
  };
  // The worker's environment, less PORCH_* settings: the run's config.json
  // decides for its attempts (porch's merge must agree with them), not
  // whatever the worker's host exports.
  static std::map<std::string, std::string> AttemptEnvironment() {
    std::map<std::string, std::string> env = CurrentEnvironment();
    for (const auto& [key, description] : ConfigKeys()) env.erase(EnvNameForKey(key));
    return env;
  }
  static std::string Stamp(const std::string& run_dir) {
    struct stat st;
    if (stat(RunLayout(run_dir).config().c_str(), &st) != 0) return "";
    return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "/" +
           std::to_string(st.st_size);
  }
  Result<RunAttempts*> Get(const std::string& run_dir) {
    const std::string stamp = Stamp(run_dir);
    auto it = runs_.find(run_dir);
    if (it == runs_.end() || it->second.stamp != stamp) {
      Result<std::unique_ptr<RunAttempts>> run = RunAttempts::Load(run_dir, AttemptEnvironment());
      if (!run.ok()) return run.status();
      if (runs_.size() >= kKeep && it == runs_.end()) {
        runs_.erase(std::min_element(runs_.begin(), runs_.end(), [](const auto& a, const auto& b) {
          return a.second.used < b.second.used;
        }));
      }
      runs_[run_dir] = Entry{stamp, std::move(*run), 0};
      it = runs_.find(run_dir);
    }
    it->second.used = ++clock_;
    return it->second.run.get();
  }
  std::map<std::string, Entry> runs_;
  uint64_t clock_ = 0;
  std::string work_dir_;
  AwsConfig aws_;
};

int Refuse(int code, const std::string& message) {
  std::fprintf(stderr, "porch worker: %s\n", message.c_str());
  return code;
}

}  // namespace

int CmdWorker(const GlobalOptions& g, const WorkerFlags& f) {
  Result<LoadedConfig> loaded = LoadConfig(g);
  if (!loaded.ok()) return Refuse(kExitInvalid, loaded.status().message());
  const QueueConfig& q = loaded->config.queue;
  WorkerOptions o;
  o.name = f.name.empty() ? DefaultName() : f.name;
  if (o.name.find_first_of(" \t\n") != std::string::npos) return Refuse(kExitInvalid, "--name: no spaces");
  o.slots = f.slots > 0 ? f.slots : std::max(1u, std::thread::hardware_concurrency());
  o.labels = SplitLabels(f.labels);
  Result<std::vector<std::string>> classes = WorkerClasses(o.labels);
  if (!classes.ok()) return Refuse(kExitInvalid, classes.status().message());
  o.classes = *classes;
  o.prefix = q.prefix;
  o.visibility_s = q.visibility_timeout;
  o.once = f.once;
  o.idle_exit_s = f.idle_exit_s;
  o.work_dir = f.work_dir.empty() ? TempDirectory() + "/porch-worker-" + o.name : f.work_dir;
  if (Status st = MakeDirs(o.work_dir); !st.ok()) return Refuse(kExitError, "--work-dir: " + st.message());
  o.work_dir = AbsolutePath(o.work_dir);  // attempts may change directory
  Result<RedisAddress> address = QueueAddress(f.queue.empty() ? q.url : f.queue,
                                              f.password_file.empty() ? q.password_file : f.password_file,
                                              CurrentEnvironment());
  if (!address.ok()) return Refuse(kExitInvalid, address.status().message());
  // A call (and its one reconnect) may not block longer than a quarter of
  // the visibility timeout: the worker must notice it is cut off in time to
  // stop its attempts (worker.h).
  Result<std::unique_ptr<HiredisClient>> redis =
      ConnectRedis(*address, std::min(q.timeout_seconds, q.visibility_timeout / 8));
  o.call_timeout_s = q.timeout_seconds;
  if (!redis.ok()) return Refuse(kExitError, redis.status().message());
  // Tasks see where they ran (the environment the runs are loaded with).
  setenv("PORCH_WORKER_NAME", o.name.c_str(), 1);
  LoadedRuns runs(o.work_dir, loaded->config.aws);
  o.prepare_in_process = [&runs](const AttemptMessage& m) { return runs.Prepare(m); };
  SignalGuard signals;
  RealClock clock;
  Worker worker(redis->get(), &clock, o, [] { return SignalGuard::interrupt_count(); });
  if (Status st = worker.Run(); !st.ok()) return Refuse(kExitError, st.message());
  return kExitOk;
}

}  // namespace porch
