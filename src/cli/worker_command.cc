// `porch worker`: flags and configuration to a Worker (src/queue/worker.h).
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "backend/queue/queue_backend.h"
#include "cli/commands.h"
#include "config/config.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "platform/signals.h"
#include "queue/worker.h"

namespace porch {

namespace {

std::string SelfExe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("porch");
}

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
  o.porch_path = SelfExe();
  o.visibility_s = q.visibility_timeout;
  o.once = f.once;
  o.idle_exit_s = f.idle_exit_s;
  o.work_dir = f.work_dir.empty() ? TempDirectory() + "/porch-worker-" + o.name : f.work_dir;
  if (Status st = MakeDirs(o.work_dir); !st.ok()) return Refuse(kExitError, "--work-dir: " + st.message());
  Result<RedisAddress> address = QueueAddress(f.queue.empty() ? q.url : f.queue,
                                              f.password_file.empty() ? q.password_file : f.password_file,
                                              CurrentEnvironment());
  if (!address.ok()) return Refuse(kExitInvalid, address.status().message());
  // A call may not block longer than a quarter of the visibility timeout:
  // the worker must notice it is cut off in time to stop its attempts.
  Result<std::unique_ptr<HiredisClient>> redis =
      ConnectRedis(*address, std::min(q.timeout_seconds, q.visibility_timeout / 4));
  if (!redis.ok()) return Refuse(kExitError, redis.status().message());
  SignalGuard signals;
  RealClock clock;
  Worker worker(redis->get(), &clock, o, [] { return SignalGuard::interrupt_count(); });
  if (Status st = worker.Run(); !st.ok()) return Refuse(kExitError, st.message());
  return kExitOk;
}

}  // namespace porch
