// Benchmark 1: scheduler throughput.
//
// A random DAG of N tasks (about 3 dependencies each) runs through the real
// Scheduler and the real FileJournal (fsync on every group commit) over an
// in-process backend that finishes each attempt as soon as it is submitted.
// Prints tasks/s and the p50/p99 time from "ready" (last dependency done)
// to "dispatched" (handed to the backend), for several executor budgets M.
//
//   bench_scheduler [N=100000] [journal-dir=/tmp]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <unistd.h>
#include <vector>

#include "fakes/fake_backend.h"
#include "journal/journal.h"
#include "plan/dag.h"
#include "plan/validate.h"
#include "platform/clock.h"
#include "sched/scheduler.h"

namespace porch {
namespace {

using SteadyClock = std::chrono::steady_clock;

Plan RandomDag(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  Plan plan;
  plan.tasks.resize(n);
  for (size_t i = 0; i < n; ++i) {
    Task& t = plan.tasks[i];
    t.id = "t" + std::to_string(i);
    t.command = "true";
    if (i == 0) continue;
    // Dependencies among the previous 1000 tasks keep the DAG wide and deep.
    size_t window = std::min<size_t>(i, 1000);
    for (int k = 0; k < 3; ++k) {
      std::string d = "t" + std::to_string(i - 1 - rng() % window);
      if (std::find(t.depends_on.begin(), t.depends_on.end(), d) == t.depends_on.end()) {
        t.depends_on.push_back(d);
      }
    }
  }
  return plan;
}

class LatencyProbe : public SchedulerListener {
 public:
  explicit LatencyProbe(size_t n) : ready_(n, SteadyClock::time_point{}), lat_(n, -1) {}
  void OnReady(Dag::Index i) override { ready_[i] = SteadyClock::now(); }
  void Dispatched(Dag::Index i) {
    auto now = SteadyClock::now();
    if (ready_[i] == SteadyClock::time_point{}) ready_[i] = start_;
    lat_[i] = std::chrono::duration<double, std::micro>(now - ready_[i]).count();
  }
  void Start() { start_ = SteadyClock::now(); }
  double Percentile(double p) {
    std::vector<double> v;
    for (double x : lat_) {
      if (x >= 0) v.push_back(x);
    }
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
  }

 private:
  std::vector<SteadyClock::time_point> ready_;
  std::vector<double> lat_;
  SteadyClock::time_point start_;
};

int Main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 100000;
  std::string dir = argc > 2 ? argv[2] : "/tmp";
  Plan plan = RandomDag(n, 42);
  Status valid = ValidatePlan(plan);
  if (!valid.ok()) {
    std::fprintf(stderr, "%s\n", valid.message().c_str());
    return 1;
  }
  Dag dag(plan);
  size_t edges = 0;
  for (Dag::Index i = 0; i < dag.size(); ++i) edges += dag.deps(i).size();
  std::printf("scheduler benchmark: %zu tasks, %zu dependencies, journal in %s (fsync on)\n", n,
              edges, dir.c_str());
  std::printf("%10s %12s %14s %14s %10s %10s\n", "M", "wall_s", "tasks/s", "journal_MB",
              "p50_us", "p99_us");
  for (int m : {5, 100, 1000, 100000}) {
    std::string path = dir + "/porch-bench-journal-" + std::to_string(getpid()) + ".log";
    unlink(path.c_str());
    auto journal = FileJournal::Open(path, nullptr);
    if (!journal.ok()) {
      std::fprintf(stderr, "%s\n", journal.status().message().c_str());
      return 1;
    }
    RealClock clock;
    InstantBackend backend(&clock);
    LatencyProbe probe(n);
    backend.on_submit = [&](const Launch& l) { probe.Dispatched(l.index); };
    SchedulerOptions options;
    options.max_executors = m;
    Scheduler sched(plan, dag, &backend, journal->get(), &clock, RetryPolicy(RetryOptions{}),
                    options, &probe, nullptr);
    probe.Start();
    auto t0 = SteadyClock::now();
    Result<RunSummary> s = sched.Run();
    double wall = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    journal->reset();
    FILE* f = std::fopen(path.c_str(), "r");
    long bytes = 0;
    if (f) {
      std::fseek(f, 0, SEEK_END);
      bytes = std::ftell(f);
      std::fclose(f);
    }
    unlink(path.c_str());
    if (!s.ok() || s->counts.succeeded != n) {
      std::fprintf(stderr, "run failed\n");
      return 1;
    }
    std::printf("%10d %12.3f %14.0f %14.1f %10.1f %10.1f\n", m, wall, n / wall, bytes / 1e6,
                probe.Percentile(0.50), probe.Percentile(0.99));
  }
  return 0;
}

}  // namespace
}  // namespace porch

int main(int argc, char** argv) { return porch::Main(argc, argv); }
