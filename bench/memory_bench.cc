// Benchmark 3: memory of validating and scheduling a very large plan.
//
// Writes a JSON plan of N tasks (about 3 dependencies each) to disk, then in
// this process: parses it (streaming), validates it, builds the DAG, and runs
// it through the Scheduler with the real FileJournal over an in-process
// backend. Prints the peak RSS after each phase.
//
//   bench_memory [N=1000000] [dir=/tmp]
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

#include "fakes/fake_backend.h"
#include "journal/journal.h"
#include "plan/dag.h"
#include "plan/plan_parser.h"
#include "plan/validate.h"
#include "platform/clock.h"
#include "sched/scheduler.h"

namespace porch {
namespace {

double PeakRssMiB() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;  // KiB on Linux
}

bool WritePlan(const std::string& path, size_t n) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return false;
  std::mt19937 rng(7);
  std::fputs("{\"name\": \"memory-bench\", \"tasks\": [\n", f);
  for (size_t i = 0; i < n; ++i) {
    std::fprintf(f, "{\"id\": \"task-%zu\", \"command\": \"true\"", i);
    if (i > 0) {
      size_t window = std::min<size_t>(i, 1000);
      size_t a = i - 1 - rng() % window, b = i - 1 - rng() % window, c = i - 1 - rng() % window;
      std::fprintf(f, ", \"depends_on\": [\"task-%zu\"", a);
      if (b != a) std::fprintf(f, ", \"task-%zu\"", b);
      if (c != a && c != b) std::fprintf(f, ", \"task-%zu\"", c);
      std::fputs("]", f);
    }
    std::fputs(i + 1 < n ? "},\n" : "}\n", f);
  }
  std::fputs("]}\n", f);
  return std::fclose(f) == 0;
}

int Main(int argc, char** argv) {
  size_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  std::string dir = argc > 2 ? argv[2] : "/tmp";
  std::string plan_path = dir + "/porch-bench-plan-" + std::to_string(getpid()) + ".json";
  std::string journal_path = dir + "/porch-bench-journal-" + std::to_string(getpid()) + ".log";
  if (!WritePlan(plan_path, n)) {
    std::fprintf(stderr, "cannot write %s\n", plan_path.c_str());
    return 1;
  }
  std::printf("memory benchmark: %zu tasks; peak RSS after each phase\n", n);
  auto t0 = std::chrono::steady_clock::now();
  auto lap = [&](const char* phase) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("  %-28s peak RSS %8.1f MiB   (t = %.2fs)\n", phase, PeakRssMiB(), s);
  };
  lap("start");
  Result<Plan> plan = LoadPlanFile(plan_path);
  unlink(plan_path.c_str());
  if (!plan.ok()) {
    std::fprintf(stderr, "%s\n", plan.status().message().c_str());
    return 1;
  }
  lap("parsed");
  Status valid = ValidatePlan(*plan);
  if (!valid.ok()) {
    std::fprintf(stderr, "%s\n", valid.message().c_str());
    return 1;
  }
  lap("validated");
  Dag dag(*plan);
  lap("dag built");
  auto journal = FileJournal::Open(journal_path, nullptr);
  if (!journal.ok()) return 1;
  RealClock clock;
  InstantBackend backend(&clock);
  SchedulerOptions options;
  options.max_executors = 10000;
  Scheduler sched(*plan, dag, &backend, journal->get(), &clock, RetryPolicy(RetryOptions{}),
                  options, nullptr, nullptr);
  Result<RunSummary> s = sched.Run();
  journal->reset();
  unlink(journal_path.c_str());
  if (!s.ok() || s->counts.succeeded != n) {
    std::fprintf(stderr, "run failed\n");
    return 1;
  }
  lap("scheduled (all succeeded)");
  double peak = PeakRssMiB();
  std::printf("peak RSS %.1f MiB for %zu tasks (%.0f bytes/task); target <= 1024 MiB: %s\n", peak,
              n, peak * 1024 * 1024 / n, peak <= 1024 ? "met" : "NOT met");
  return 0;
}

}  // namespace
}  // namespace porch

int main(int argc, char** argv) { return porch::Main(argc, argv); }
