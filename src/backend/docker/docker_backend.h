// The Docker backend (the seed's DockerBackend): each task attempt runs in a
// container of its own, `porch exec-task` inside, with the run directory
// bind-mounted at the same absolute path so the attempt's result file lands
// where porch reads it. Containers are named porch-<uid>-<task>-<attempt>
// and labelled porch.uid (the run's unique id, model/run_identity.h),
// porch.run, porch.task and porch.attempt; porch lists, adopts, stops and
// removes only containers whose porch.uid is its own, so runs sharing an
// engine never touch each other. They get the task's resources as limits
// (NanoCpus, Memory with no extra swap, PidsLimit), and the executor's
// environment, passed at create time and never written to disk.
//
// Outages: a submission that finds the engine unreachable waits for it (up
// to engine_wait_s); a poll that finds it unreachable keeps waiting, and
// after engine_wait_s the backend reports itself unhealthy, so the run stops
// (exit 3) and can be resumed, instead of spending tasks' retries. A
// container the engine stopped without porch asking (an engine restart) is
// a lost attempt: it runs again, no retry charged.
//
// A task killed for its memory limit (OOMKilled) gets oom_memory_factor
// times the memory on its next attempt, up to max_memory_bytes.
//
// Wait() follows the engine's events for the run's containers (a container
// that ends wakes it at once; DockerEventFollower) and lists them (one call)
// when woken and every kBackstopPollSeconds, or polls every poll_s when the
// event stream is down;
// collects each exited one (inspect for the exit code and OOMKilled, logs
// into the attempt's container.log, the result file as the authority) and
// removes it. Cancel() sends SIGTERM, which exec-task turns into a cancelled
// result. Recover() finds a container by its labels and re-adopts it, or
// ingests the result file if the container is gone; none is started twice.
#pragma once

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "backend/escalation.h"
#include "backend/polling_backend.h"
#include "backend/docker/docker_client.h"
#include "config/config.h"
#include "platform/clock.h"
#include "model/run_identity.h"
#include "model/run_layout.h"

namespace porch {

struct DockerBackendOptions {
  std::string run_id;                       // the human run id (label porch.run)
  std::string uid;                          // the run's unique id: names and the label porch.uid
  std::string image = "parallel-orchestrator:latest";
  std::string network;                      // empty: the engine's default
  std::string porch_path = "/usr/local/bin/porch";
  std::vector<std::string> env;             // "NAME=value" for every container
  // "uid:gid" containers run as: porch's own, so everything they leave in
  // the run directory is the invoking user's (empty: the image's user).
  std::string user;
  // That user's name on the host, given to containers as USER and LOGNAME
  // (the image has no passwd entry for the uid; tools that read the
  // environment first, like Python's getpass, still find a name).
  std::string user_name;
  double poll_s = 0.2;
  double engine_wait_s = 120;        // an unreachable engine is waited for this long
  double kill_grace_s = 5;           // after a cancel's SIGTERM, SIGKILL follows this much later
  double oom_memory_factor = 2;      // an OOM-killed task's next attempt gets this much more memory
  uint64_t max_memory_bytes = 64ull << 30;  // ... up to this
};

// Follows the engine's event stream for one run's containers on a thread of
// its own (with its own connection, `http`), so that Wait wakes the moment
// a container ends instead of at the next poll. It asks for the events in
// windows of a second (GET /events with since/until, each window starting
// a little before the last one ended, so none is missed); a window that
// fails (the engine restarts) is retried after a pause, and meanwhile
// following() is false and the backend polls at its usual pace.
// Threading: fd(), TakeDeaths() and following() from the scheduler's thread.
class DockerEventFollower {
 public:
  DockerEventFollower(std::unique_ptr<HttpClient> http, const std::string& socket, std::string uid);
  // Stops the thread (it ends within one window) and joins it.
  ~DockerEventFollower();
  // Readable when a container of the run ended since the last TakeDeaths.
  int fd() const { return wake_[0]; }
  // Drains the wake-ups: the ids of the containers that ended since the
  // last call (the engine's list may show them running a moment longer).
  std::set<std::string> TakeDeaths();
  // Whether the engine reported an "oom" event for container `id` (and
  // forgets it). The engine records OOMKilled apart from the exit, and
  // under load its inspect can show the exit without it; the event is a
  // second witness. Any thread.
  bool TakeOom(const std::string& id);
  bool following() const { return following_; }

 private:
  void Loop();

  std::unique_ptr<HttpClient> http_;
  DockerClient client_;
  std::string uid_;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<bool> following_{false};
  std::mutex mu_;
  std::set<std::string> died_;  // guarded by mu_
  std::set<std::string> oomed_;  // guarded by mu_
  std::thread thread_;
};

class DockerBackend : public PollingBackend {
 public:
  // Talks to the engine at `socket` through `http` (owned). `clock` is not
  // owned. With `events_http` (a second connection, owned), the backend
  // follows the engine's events and polls only as a backstop.
  DockerBackend(std::unique_ptr<HttpClient> http, const std::string& socket, RunLayout layout,
                Clock* clock, DockerBackendOptions options,
                std::unique_ptr<HttpClient> events_http = nullptr);

  DockerClient& client() { return client_; }
  // Containers attach to this network id (what EnsureNetwork agreed on)
  // instead of options.network's name.
  void set_network_id(std::string id) { network_id_ = std::move(id); }
  // Containers run as `user` ("uid:gid"; empty: the image's).
  void set_user(std::string user) { options_.user = std::move(user); }

  std::string name() const override { return "docker"; }
  std::vector<Result<std::string>> Submit(std::span<const Launch> launches) override;
  void Cancel(Dag::Index index, int attempt) override;
  Result<RecoverOutcome> Recover(const InFlight& attempt) override;
  Status health() const override { return health_; }

  // The container for one attempt (exposed for tests).
  ContainerSpec Spec(const Launch& l) const;
  // "porch-<uid>-<task>-<attempt>": unique to the run and the attempt, and
  // different for different task ids (SafeName).
  static std::string ContainerName(const std::string& uid, const std::string& task, int attempt);

 private:
  struct Job {
    Dag::Index index;
    int attempt;
    std::string task_id;
    bool memory_limited = false;  // created with a memory limit
    double submitted_at = 0;
  };
  void Poll(std::vector<BackendEvent>* events) override;
  // Following events, the poll is only a backstop.
  double PollInterval() const override {
    return events_ && events_->following() ? std::max(kBackstopPollSeconds, options_.poll_s)
                                           : options_.poll_s;
  }
  int WakeFd() const override { return events_ ? events_->fd() : -1; }
  static constexpr double kBackstopPollSeconds = 2.0;
  Result<std::string> SubmitOne(const Launch& l);
  // Creates and starts `spec`'s container, waiting out an engine that does
  // not answer (up to engine_wait_s; a signal ends the wait early).
  Result<std::string> CreateAndStart(ContainerSpec& spec);
  // Removes a leftover container of this very attempt (created, never
  // journaled); refuses one that is not this run's.
  Status ClearName(const std::string& name);
  // Waits until the engine answers again: false when it did not within
  // `until` (or a signal came).
  bool WaitForEngine(double until);
  BackendEvent Collect(const std::string& id, const Job& job);
  void KillOverdueCancels();

  std::unique_ptr<HttpClient> http_;
  DockerClient client_;
  RunLayout layout_;
  DockerBackendOptions options_;
  std::string network_id_;  // options_.network's id once ensured
  std::map<std::string, Job> jobs_;  // by container id
  double engine_down_since_ = 0;     // 0: the engine answered the last poll
  double last_outage_end_ = 0;       // when the engine answered again after an outage
  std::map<std::string, double> cancelled_at_;  // container id -> when SIGTERM was sent
  ResourceEscalation escalation_;
  Status health_;                    // not OK: the engine is gone; the run must stop
  std::unique_ptr<DockerEventFollower> events_;  // null: polling only
};

// Builds `image` from docker.build_context through the Engine API; the
// builder's output is saved at `log_path`.
Status BuildImageFromContext(DockerClient& client, const DockerConfig& docker,
                             const std::string& image, const std::string& log_path);

// Makes `image` available: present already, or built from
// docker.build_context (once per host: concurrent runs wait for one build).
Status EnsureImage(DockerClient& client, const DockerConfig& docker, const std::string& image,
                   const std::string& log_path);

// Connects to the configured engine, checks it, creates the network and
// checks the image (never pulls; builds it from docker.build_context when
// that is set). Clear errors for each step.
// `env`: porch's environment (DOCKER_HOST; the credentials containers get).
Result<std::unique_ptr<Backend>> CreateDockerBackend(const Config& config, const RunLayout& layout,
                                                     const RunIdentity& identity, Clock* clock,
                                                     const std::map<std::string, std::string>& env);

}  // namespace porch
