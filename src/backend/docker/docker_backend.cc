#include "backend/docker/docker_backend.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cctype>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "backend/verdict.h"
#include "core/strings.h"
#include "model/result_file.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "platform/process.h"
#include "platform/tar.h"

namespace porch {

namespace {

// Another run's build of the same image is waited for this long at most.
constexpr double kBuildWaitSeconds = 3600;
// A cancelled container gets SIGKILL this long after the kill grace.
constexpr double kKillSlackSeconds = 2;
// A container whose name the engine holds a stale endpoint for is renamed
// at most this often.
constexpr int kMaxRenames = 3;
// While waiting for the engine, ask it this often.
constexpr double kEngineProbeSeconds = 0.5;
// Container names are at most this long (the engine's limit is larger).
constexpr size_t kMaxTaskNameInContainer = 100;

bool EngineUnreachable(const Status& st) {
  return st.code() == Status::Code::kUnavailable &&
         st.message().find("cannot reach the Docker engine") != std::string::npos;
}

// 5xx while the engine starts (libnetwork not ready yet): worth waiting for.
bool EngineStarting(const Status& st) {
  return st.code() == Status::Code::kUnavailable &&
         st.message().find("the engine answered 5") != std::string::npos;
}

}  // namespace

std::string DockerBackend::ContainerName(const std::string& uid, const std::string& task,
                                         int attempt) {
  return "porch-" + uid + "-" + SafeName(task, kMaxTaskNameInContainer) + "-" +
         std::to_string(attempt);
}

namespace {

// The length of one events window, and how much each starts before the last
// one ended (events are kept by the engine; one seen twice is harmless).
constexpr double kEventWindowSeconds = 1.0;
constexpr double kEventOverlapSeconds = 0.5;
constexpr auto kEventRetryPause = std::chrono::milliseconds(500);
// How long a SIGKILLed memory-limited container's OOMKilled is waited for.
constexpr int kOomLooks = 20;
constexpr double kOomLookSeconds = 0.1;

}  // namespace

DockerEventFollower::DockerEventFollower(std::unique_ptr<HttpClient> http, const std::string& socket,
                                         std::string uid)
    : http_(std::move(http)), client_(http_.get(), socket), uid_(std::move(uid)) {
  if (pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) return;  // no events: the backend polls
  thread_ = std::thread([this] { Loop(); });
}

DockerEventFollower::~DockerEventFollower() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  for (int fd : wake_) {
    if (fd >= 0) close(fd);
  }
}

std::set<std::string> DockerEventFollower::TakeDeaths() {
  char buf[256];
  while (read(wake_[0], buf, sizeof buf) > 0) {
  }
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(died_, {});
}

bool DockerEventFollower::TakeOom(const std::string& id) {
  std::lock_guard<std::mutex> lock(mu_);
  return oomed_.erase(id) > 0;
}

void DockerEventFollower::Loop() {
  double since = WallSeconds() - kEventOverlapSeconds;
  while (!stop_) {
    const double until = WallSeconds() + kEventWindowSeconds;
    Status st = client_.StreamEvents(since, until, {{"porch.uid", uid_}},
                                     [this](const std::string& id, const std::string& action) {
      if (action == "oom") {
        std::lock_guard<std::mutex> lock(mu_);
        oomed_.insert(id);
      }
      if (action == "die") {  // (porch's own removal, "destroy", wakes no one)
        {
          std::lock_guard<std::mutex> lock(mu_);
          died_.insert(id);
        }
        ssize_t ignored = write(wake_[1], "d", 1);  // full pipe: a wake-up is pending anyway
        (void)ignored;
      }
      return !stop_;
    });
    following_ = st.ok();
    if (!st.ok() && !stop_) std::this_thread::sleep_for(kEventRetryPause);
    since = std::max(since, (st.ok() ? until : WallSeconds()) - kEventOverlapSeconds);
  }
}

DockerBackend::DockerBackend(std::unique_ptr<HttpClient> http, const std::string& socket,
                             RunLayout layout, Clock* clock, DockerBackendOptions options,
                             std::unique_ptr<HttpClient> events_http)
    : PollingBackend(clock),
      http_(std::move(http)),
      client_(http_.get(), socket),
      layout_(AbsolutePath(layout.dir())),
      options_(std::move(options)),
      escalation_({options_.oom_memory_factor, options_.max_memory_bytes}) {
  if (events_http) events_ = std::make_unique<DockerEventFollower>(std::move(events_http), socket, options_.uid);
}

ContainerSpec DockerBackend::Spec(const Launch& l) const {
  const Task& t = *l.task;
  ContainerSpec s;
  s.name = ContainerName(options_.uid, t.id, l.attempt);
  s.image = options_.image;
  s.cmd = {options_.porch_path, "exec-task",  "--run-dir", layout_.dir(),
           "--task-id",         t.id,         "--attempt", std::to_string(l.attempt)};
  s.env = options_.env;
  s.env.push_back("PATH=/usr/local/bin:/usr/bin:/bin");
  s.labels = {{"porch.uid", options_.uid},
              {"porch.run", options_.run_id},
              {"porch.task", t.id},
              {"porch.attempt", std::to_string(l.attempt)}};
  s.binds = {layout_.dir() + ":" + layout_.dir()};
  s.working_dir = layout_.dir();
  s.user = options_.user;
  if (!s.user.empty() && !options_.user_name.empty()) {
    s.env.push_back("USER=" + options_.user_name);
    s.env.push_back("LOGNAME=" + options_.user_name);
  }
  s.network = network_id_.empty() ? options_.network : network_id_;
  s.cpus = t.resources.cpus;
  s.memory_bytes = escalation_.Memory(l.index, t.resources.memory_bytes);
  s.pids_limit = kContainerPidsLimit;
  return s;
}

bool DockerBackend::WaitForEngine(double until) {
  while (clock_->Now() < until) {
    const double next = std::min(until, clock_->Now() + kEngineProbeSeconds);
    clock_->SleepUntil(next);
    if (clock_->Now() < next) return false;  // a signal (Ctrl-C): stop waiting
    if (client_.Ping().ok()) return true;
  }
  return false;
}

Status DockerBackend::ClearName(const std::string& name) {
  Result<ContainerState> old = client_.Inspect(name);
  if (!old.ok()) return old.status().code() == Status::Code::kNotFound ? Status::Ok() : old.status();
  if (old->labels["porch.uid"] != options_.uid) {
    return Status::Infeasible("a container named '" + name +
                              "' exists and is not this run's (porch.uid differs); porch does "
                              "not remove what it did not create");
  }
  // A leftover of this very attempt: created, never journaled as submitted.
  return client_.RemoveContainer(old->id);
}

Result<std::string> DockerBackend::CreateAndStart(ContainerSpec& spec) {
  const double give_up = clock_->Now() + options_.engine_wait_s;
  bool cleared = false;
  int renames = 0;
  const std::string base_name = spec.name;
  while (true) {
    Result<std::string> id = client_.CreateContainer(spec);
    if (!id.ok() && id.status().code() == Status::Code::kAlreadyExists && !cleared) {
      // The name is taken: a leftover of this very attempt, or not ours.
      PORCH_RETURN_IF_ERROR(ClearName(spec.name));
      cleared = true;
      continue;
    }
    if (!id.ok() && id.status().code() == Status::Code::kNotFound && !network_id_.empty() &&
        id.status().message().find("network") != std::string::npos) {
      // A concurrent run settled on another of two same-named networks and
      // removed ours while it was still empty: agree again.
      Result<std::string> net = client_.EnsureNetwork(options_.network);
      if (net.ok()) {
        network_id_ = *net;
        spec.network = *net;
        continue;
      }
    }
    Status st = id.ok() ? client_.StartContainer(*id) : id.status();
    if (st.ok()) return id;
    if (id.ok()) client_.RemoveContainer(*id).IgnoreError();
    if (st.message().find("endpoint with name") != std::string::npos && renames < kMaxRenames) {
      // A start the engine's restart interrupted can leave a stale network
      // endpoint under the container's name: start it under another name.
      spec.name = base_name + "-r" + std::to_string(++renames);
      continue;
    }
    if (!EngineUnreachable(st) && !EngineStarting(st)) return st;
    if (!WaitForEngine(give_up)) {
      return Status::Unavailable("the Docker engine at unix://" + client_.socket() +
                                 " did not answer for " +
                                 std::to_string(static_cast<int>(options_.engine_wait_s)) +
                                 "s (docker.engine_wait_seconds): " + st.message());
    }
    last_outage_end_ = clock_->Now();
  }
}

Result<std::string> DockerBackend::SubmitOne(const Launch& l) {
  PORCH_RETURN_IF_ERROR(MakeDirs(layout_.attempt_dir(l.task->id, l.attempt)));
  ContainerSpec spec = Spec(l);
  Result<std::string> id = CreateAndStart(spec);
  if (!id.ok()) {
    // The engine lacks the image now (removed during the run): nothing any
    // task can do about it.
    if (id.status().code() == Status::Code::kNotFound &&
        id.status().message().find("image") != std::string::npos) {
      return Status::Infeasible(id.status().message());
    }
    return id.status();
  }
  jobs_[*id] = {l.index, l.attempt, l.task->id, spec.memory_bytes > 0, clock_->Now()};
  Emit(StartedEvent(l.index, l.attempt, clock_->Now()));
  return id;
}

std::vector<Result<std::string>> DockerBackend::Submit(std::span<const Launch> launches) {
  std::vector<Result<std::string>> out;
  out.reserve(launches.size());
  for (const Launch& l : launches) {
    Result<std::string> id = SubmitOne(l);
    out.push_back(id.ok() ? std::move(id) : Result<std::string>(id.status().Annotate("docker backend")));
  }
  return out;
}

BackendEvent DockerBackend::Collect(const std::string& id, const Job& job) {
  Result<ContainerState> st = client_.Inspect(id);
  // The engine records an OOM kill apart from the exit, sometimes a moment
  // after it: collected at its "die" event, a memory-limited container
  // SIGKILLed without OOMKilled (in its inspect or as an "oom" event) is
  // looked at again for a little while.
  bool oom = (st.ok() && st->oom_killed) || (events_ && events_->TakeOom(id));
  for (int look = 0; look < kOomLooks && job.memory_limited && st.ok() && !oom &&
                     st->exit_code == 128 + SIGKILL;
       ++look) {
    clock_->SleepUntil(clock_->Now() + kOomLookSeconds);
    st = client_.Inspect(id);
    oom = (st.ok() && st->oom_killed) || (events_ && events_->TakeOom(id));
  }
  std::string out, err;
  if (client_.Logs(id, &out, &err).ok() && !(out.empty() && err.empty())) {
    WriteFileFast(layout_.attempt_dir(job.task_id, job.attempt) + "/container.log", out + err)
        .IgnoreError();
  }
  Ending e;
  e.cancel_requested = cancelled_at_.erase(id) > 0;
  e.oom_killed = oom;
  e.memory_limited = job.memory_limited;
  e.exit_code = st.ok() ? st->exit_code : -1;
  e.without_result = "the container exited " + std::to_string(e.exit_code) +
                     " without a result file (see container.log)";
  Result<AttemptResult> result = ReadAttemptResult(layout_.result_path(job.task_id, job.attempt));
  const bool stopped_by_others =
      result.ok() ? result->reason == FailureReason::kCancelled : last_outage_end_ > job.submitted_at;
  if (!e.cancel_requested && stopped_by_others) {
    // Stopped, and porch did not ask: the engine stopped it (a restart
    // sends SIGTERM, which exec-task records as a cancel) or someone ran
    // `docker stop`. Not the task's failure: it runs again, uncharged.
    e.backend_says = BackendVerdict{FailureReason::kLost,
        "the container was stopped without porch asking (the engine restarted?); it runs again"};
  }
  BackendEvent ev = ResolveEnding(job.index, job.attempt, clock_->Now(), result, e);
  escalation_.Record(job.index, ev.reason);
  client_.RemoveContainer(id).IgnoreError();  // what is left is found again by its labels
  return ev;
}

void DockerBackend::KillOverdueCancels() {
  // A cancelled container that did not stop in time gets SIGKILL (a
  // container's PID 1 may miss a SIGTERM sent while it was starting).
  for (auto& [id, at] : cancelled_at_) {
    if (at > 0 && clock_->Now() - at > options_.kill_grace_s + kKillSlackSeconds) {
      client_.KillContainer(id, "SIGKILL").IgnoreError();
      at = -1;
    }
  }
}

void DockerBackend::Poll(std::vector<BackendEvent>* events) {
  // Containers the engine said ended are over even if its list is a moment
  // behind (it may still show them running).
  const std::set<std::string> died = events_ ? events_->TakeDeaths() : std::set<std::string>{};
  KillOverdueCancels();
  if (jobs_.empty()) return;
  Result<std::vector<ContainerState>> listed = client_.List({{"porch.uid", options_.uid}});
  if (!listed.ok()) {
    if (engine_down_since_ == 0) engine_down_since_ = clock_->Now();  // restarting? wait for it
    if (clock_->Now() - engine_down_since_ > options_.engine_wait_s && health_.ok()) {
      health_ = Status::Unavailable(
          "the Docker engine at unix://" + client_.socket() + " has not answered for " +
          std::to_string(static_cast<int>(options_.engine_wait_s)) +
          "s (docker.engine_wait_seconds); its containers may still run: " +
          listed.status().message());
    }
    return;
  }
  if (engine_down_since_ != 0) last_outage_end_ = clock_->Now();
  engine_down_since_ = 0;
  std::map<std::string, const ContainerState*> by_id;
  for (const ContainerState& c : *listed) by_id[c.id] = &c;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    auto c = by_id.find(it->first);
    // Still going; or gone (removed behind porch's back): the result file decides.
    bool over = died.count(it->first) > 0 || c == by_id.end() ||
                !(c->second->running || c->second->status == "created" ||
                  c->second->status == "restarting");
    if (!over) {
      ++it;
      continue;
    }
    events->push_back(Collect(it->first, it->second));
    it = jobs_.erase(it);
  }
}

void DockerBackend::Cancel(Dag::Index index, int attempt) {
  for (const auto& [id, job] : jobs_) {
    if (job.index == index && job.attempt == attempt) {
      client_.KillContainer(id, "SIGTERM").IgnoreError();  // not there: it ended; Poll collects it
      cancelled_at_[id] = clock_->Now();
      PollSoon(options_.kill_grace_s + kKillSlackSeconds);
    }
  }
}

Result<RecoverOutcome> DockerBackend::Recover(const InFlight& f) {
  Result<std::vector<ContainerState>> found = client_.List({{"porch.uid", options_.uid},
                                                            {"porch.task", f.task->id},
                                                            {"porch.attempt", std::to_string(f.attempt)}});
  // An engine that does not answer cannot say the container is gone.
  if (!found.ok()) return found.status().Annotate("docker backend: recovering task '" + f.task->id + "'");
  if (!found->empty()) {
    const ContainerState& c = found->front();
    if (c.status == "created") {
      // porch died between create and start: it never ran. Run it again.
      client_.RemoveContainer(c.id).IgnoreError();
      return RecoverOutcome::kLost;
    }
    // Wait collects it.
    jobs_[c.id] = {f.index, f.attempt, f.task->id, f.task->resources.memory_bytes > 0, clock_->Now()};
    return RecoverOutcome::kAdopted;
  }
  if (std::optional<BackendEvent> done = EventFromResultFile(layout_, f)) {
    Emit(std::move(*done));
    return RecoverOutcome::kAdopted;
  }
  return RecoverOutcome::kLost;
}

Status BuildImageFromContext(DockerClient& client, const DockerConfig& docker,
                             const std::string& image, const std::string& log_path) {
  std::fprintf(stderr, "porch: image '%s' is missing; building it from %s (docker.build_context)\n",
               image.c_str(), docker.build_context.c_str());
  Result<std::string> tar = TarDirectory(docker.build_context);
  if (!tar.ok()) return tar.status().Annotate("docker backend: docker.build_context");
  std::string log;
  Status st = client.BuildImage(*tar, image, docker.dockerfile, &log);
  if (!log.empty() && MakeDirs(DirName(log_path)).ok()) WriteFileFast(log_path, log).IgnoreError();
  if (!st.ok()) {
    return st.Annotate("docker backend (the builder's output is in " + log_path + ")");
  }
  return Status::Ok();
}

Status EnsureImage(DockerClient& client, const DockerConfig& docker, const std::string& image,
                   const std::string& log_path) {
  Result<bool> have = client.ImageExists(image);
  if (!have.ok()) return have.status().Annotate("docker backend");
  if (*have) return Status::Ok();
  if (docker.build_context.empty()) {
    return Status::Infeasible("docker backend: image '" + image +
                            "' is not in the engine, and porch never pulls; build it with "
                            "docker/build.sh, set docker.build_context to a directory with a "
                            "Dockerfile, or set docker.image");
  }
  // Runs that miss the same image build it once: the others wait for the
  // build, then find the image.
  std::unique_ptr<FileLock> lock = EngineLock(client.socket(), "build", kBuildWaitSeconds);
  have = client.ImageExists(image);
  if (have.ok() && *have) return Status::Ok();
  return BuildImageFromContext(client, docker, image, log_path);
}

Result<std::unique_ptr<Backend>> CreateDockerBackend(const Config& config, const RunLayout& layout,
                                                     const RunIdentity& identity, Clock* clock,
                                                     const std::map<std::string, std::string>& env) {
  auto docker_host = env.find("DOCKER_HOST");
  std::string socket =
      DockerSocket(config.docker.host, docker_host == env.end() ? "" : docker_host->second);
  DockerBackendOptions o;
  o.run_id = identity.run_id;
  o.uid = identity.uid;
  o.engine_wait_s = config.docker.engine_wait_seconds;
  if (!(config.docker.poll_seconds > 0) || config.docker.poll_seconds > 3600) {
    return Status::InvalidArgument("docker.poll_seconds must be above 0 and at most 3600 (it is " +
                                   std::to_string(config.docker.poll_seconds) + ")");
  }
  o.poll_s = config.docker.poll_seconds;
  o.image = config.docker.image;
  o.network = config.docker.network;
  o.user = std::to_string(geteuid()) + ":" + std::to_string(getegid());
  o.user_name = UserName(geteuid());
  o.porch_path = config.docker.porch_path;
  o.kill_grace_s = config.kill_grace_seconds;
  o.oom_memory_factor = config.docker.oom_memory_factor;
  std::optional<uint64_t> max_memory = ParseMemory(config.docker.max_memory);
  if (!max_memory || *max_memory == 0) {
    return Status::InvalidArgument("docker backend: docker.max_memory '" + config.docker.max_memory +
                                   "' is not a size like 64G");
  }
  o.max_memory_bytes = *max_memory;
  // Credentials reach containers through the environment at create time
  // only; proxies the same way (command tasks get them too: exec-task drops
  // only the secrets).
  for (const std::vector<std::string>* names : {&SecretVariables(), &LlmVariables()}) {
    for (const std::string& name : *names) {
      // With docker.use_bedrock the region is docker.bedrock_region (below).
      if (name == "AWS_REGION" && config.docker.use_bedrock) continue;
      if (auto v = env.find(name); v != env.end()) o.env.push_back(name + "=" + v->second);
    }
  }
  for (std::string& proxy : ContainerProxies(env, config.docker.network)) o.env.push_back(std::move(proxy));
  // As that user, HOME is the run's (the image's /root is not theirs), and
  // the Claude Code CLI is looked up where the image has it.
  o.env.push_back("HOME=" + AbsolutePath(layout.dir()) + "/.agent-home");
  o.env.push_back("PORCH_AGENT_CLAUDE_PATH=" + config.docker.claude_path);
  o.env.push_back("PORCH_PLACE=in a container of image " + config.docker.image);
  if (config.docker.use_bedrock) {
    o.env.push_back("CLAUDE_CODE_USE_BEDROCK=1");
    o.env.push_back("AWS_REGION=" + config.docker.bedrock_region);
  }
  auto backend = std::make_unique<DockerBackend>(std::make_unique<CurlHttpClient>(), socket, layout,
                                                 clock, o, std::make_unique<CurlHttpClient>());
  PORCH_RETURN_IF_ERROR(backend->client().Ping().Annotate("docker backend"));
  // A rootless or user-mapped engine's containers run as its user already:
  // a uid of the host's would be a stranger to the bind-mounted run there.
  if (Result<bool> mapped = backend->client().MapsUsers(); mapped.ok() && *mapped) {
    backend->set_user("");
  }
  if (!o.network.empty()) {
    // Attach by id: a name another run duplicated at the same moment would
    // be ambiguous to the engine.
    Result<std::string> net = backend->client().EnsureNetwork(o.network);
    if (!net.ok()) return net.status().Annotate("docker backend");
    backend->set_network_id(*net);
  }
  PORCH_RETURN_IF_ERROR(EnsureImage(backend->client(), config.docker, o.image,
                                    layout.dir() + "/docker-build.log"));
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace porch
