// Benchmark: the queue backend's broker path on its own. porch's
// QueueBackend pushes N trivial attempts (at most M in flight) to a real
// Redis; W Worker objects with S slots each (threads of this process, each
// with its own connection) claim them, "run" each in no time (run_inline:
// no fork, no exec-task) and publish the result. Measures what the broker
// costs: enqueue, claim, result back.
//
//   build/bench_queue REDIS_URL [N=10000] [W=4] [S=4] [M=16]
//
// Prints tasks/s, the queue latency (porch's XADD to the worker's claim)
// p50/p99, Redis commands per task (INFO commandstats, including the
// commands the scripts run) and client round trips per task (every
// pipeline, both sides, idle blocking reads included). bench/queue_bench.sh
// starts the Redis and runs the end-to-end comparison beside it.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "backend/queue/queue_backend.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "queue/worker.h"

namespace porch {
namespace {

// Counts round trips (Pipeline calls) of the client it wraps.
class CountingRedis : public RedisClient {
 public:
  CountingRedis(std::unique_ptr<RedisClient> inner, std::atomic<long long>* trips)
      : inner_(std::move(inner)), trips_(trips) {}
  Result<std::vector<RedisReply>> Pipeline(const std::vector<RedisCommand>& commands) override {
    trips_->fetch_add(1);
    return inner_->Pipeline(commands);
  }
  uint64_t connections() const override { return inner_->connections(); }

 private:
  std::unique_ptr<RedisClient> inner_;
  std::atomic<long long>* trips_;
};

long long CommandCalls(RedisClient* redis) {
  Result<RedisReply> info = redis->Command({"INFO", "commandstats"});
  if (!info.ok()) return 0;
  long long total = 0;
  std::istringstream in(info->text());
  for (std::string line; std::getline(in, line);) {
    size_t calls = line.find("calls=");
    if (line.rfind("cmdstat_", 0) != 0 || calls == std::string::npos) continue;
    total += std::atoll(line.c_str() + calls + 6);
  }
  return total;
}

std::unique_ptr<RedisClient> Connect(const RedisAddress& a, std::atomic<long long>* trips) {
  Result<std::unique_ptr<HiredisClient>> c = ConnectRedis(a, 10);
  if (!c.ok()) {
    std::fprintf(stderr, "bench_queue: %s\n", c.status().message().c_str());
    std::exit(3);
  }
  return std::make_unique<CountingRedis>(std::move(*c), trips);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: bench_queue REDIS_URL [N=10000] [W=4] [S=4] [M=16]\n");
    return 2;
  }
  Result<RedisAddress> address = ParseRedisUrl(argv[1]);
  if (!address.ok()) {
    std::fprintf(stderr, "bench_queue: %s\n", address.status().message().c_str());
    return 2;
  }
  const int n = argc > 2 ? std::atoi(argv[2]) : 10000;
  const int w = argc > 3 ? std::atoi(argv[3]) : 4;
  const int s = argc > 4 ? std::atoi(argv[4]) : 4;
  const int m = argc > 5 ? std::atoi(argv[5]) : 16;
  const std::string prefix = "bench" + std::to_string(getpid());
  char tmpl[] = "/tmp/porch-queue-bench-XXXXXX";
  const std::string run_dir = mkdtemp(tmpl);
  RunLayout layout(run_dir);

  std::atomic<long long> trips{0};
  std::unique_ptr<RedisClient> porch_redis = Connect(*address, &trips);
  RealClock clock;
  QueueBackendOptions o;
  o.uid = prefix;
  o.prefix = prefix;
  QueueBackend backend(porch_redis.get(), layout, &clock, o);

  std::atomic<int> stop{0};
  std::vector<std::unique_ptr<RedisClient>> worker_redis;
  std::vector<std::thread> workers;
  for (int i = 0; i < w; ++i) worker_redis.push_back(Connect(*address, &trips));
  std::unique_ptr<RedisClient> stats = Connect(*address, &trips);
  const long long calls_before = CommandCalls(stats.get());
  const long long trips_before = trips.load();
  for (int i = 0; i < w; ++i) {
    workers.emplace_back([&, i] {
      WorkerOptions wo;
      wo.name = prefix + "-w" + std::to_string(i);
      wo.slots = s;
      wo.classes = {"default"};
      wo.prefix = prefix;
      wo.run_inline = [](const AttemptMessage&) { return 0; };
      Worker worker(worker_redis[static_cast<size_t>(i)].get(), &clock, wo, [&] { return stop.load(); });
      worker.Run().IgnoreError();
    });
  }

  std::vector<Task> tasks(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    tasks[static_cast<size_t>(i)].id = "t" + std::to_string(i);
    tasks[static_cast<size_t>(i)].command = "true";
  }
  std::vector<double> submitted(static_cast<size_t>(n), 0), latency;
  latency.reserve(static_cast<size_t>(n));
  int next = 0, finished = 0, in_flight = 0;
  const auto t0 = std::chrono::steady_clock::now();
  while (finished < n) {
    std::vector<Launch> launches;
    while (in_flight < m && next < n) {
      launches.push_back({static_cast<Dag::Index>(next), &tasks[static_cast<size_t>(next)], 1, 0, {}});
      ++next;
      ++in_flight;
    }
    if (!launches.empty()) {
      const double now = clock.Now();
      for (const Result<std::string>& id : backend.Submit(launches)) {
        if (!id.ok()) {
          std::fprintf(stderr, "bench_queue: %s\n", id.status().message().c_str());
          return 3;
        }
      }
      for (const Launch& l : launches) submitted[l.index] = now;
    }
    for (const BackendEvent& ev : backend.Wait(clock.Now() + 1)) {
      if (ev.kind == BackendEvent::Kind::kStarted) {
        latency.push_back(ev.time - submitted[ev.index]);
      } else {
        ++finished;
        --in_flight;
      }
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const long long server_calls = CommandCalls(stats.get()) - calls_before - 1;
  const long long round_trips = trips.load() - trips_before - 1;
  stop = 1;
  for (std::thread& t : workers) t.join();
  backend.Close().IgnoreError();
  porch_redis->Command({"DEL", prefix + ":q:default", prefix + ":workers"}).status().IgnoreError();
  std::system(("rm -rf '" + run_dir + "'").c_str());

  std::printf("queue broker path: %d tasks, %d workers x %d slots, M=%d\n", n, w, s, m);
  std::printf("  wall %.2f s, %.0f tasks/s\n", wall, n / wall);
  std::printf("  queue latency (XADD to claim): p50 %.2f ms, p99 %.2f ms\n", Percentile(latency, 0.5) * 1000,
              Percentile(latency, 0.99) * 1000);
  std::printf("  Redis commands per task: %.2f (INFO commandstats, script commands included)\n",
              static_cast<double>(server_calls) / n);
  std::printf("  client round trips per task: %.2f (porch and workers, idle reads included)\n",
              static_cast<double>(round_trips) / n);
  return 0;
}

}  // namespace
}  // namespace porch

int main(int argc, char** argv) { return porch::Main(argc, argv); }
