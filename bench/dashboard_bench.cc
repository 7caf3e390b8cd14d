// Benchmark: the dashboard under a large run and a crowd of clients.
//
// 1. Writes a run of --tasks tasks (plan.json and a journal in which half
//    of them finished) and serves it with porch's Dashboard on loopback.
//    Prints the time to open the run, then the time of one live update
//    (what the run page's stream does each second: read what the journal
//    gained, summarise, list the tasks that changed) while 1,000 more
//    tasks finish per update.
// 2. Load: --pollers keep-alive clients, each asking for the run list and a
//    page of the run's tasks once a second (browser tabs), and --slowloris
//    connections that send one header line every 2 s and reconnect when cut.
//    Prints requests, failures and latency percentiles of the pollers.
//
//   bench_dashboard [--tasks 300000] [--pollers 200] [--slowloris 20]
//                   [--seconds 60] [--dir /tmp]
//
// Exits 1 when a poller's request failed (the figures are printed, never
// judged: the goals are in docs/benchmarks.md).
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "journal/journal.h"
#include "model/run_layout.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "web/dashboard.h"
#include "web/raw_client.h"

namespace porch {
namespace {

struct Options {
  size_t tasks = 300000;
  int pollers = 200;
  int slowloris = 20;
  double seconds = 60;
  std::string dir = "/tmp";
};

double PeakRssMiB() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024.0;
}

std::string TaskRecords(size_t from, size_t to, double t) {
  std::string out;
  for (size_t i = from; i < to; ++i) {
    JournalRecord r;
    r.task = "task-" + std::to_string(i);
    r.attempt = 1;
    r.time = t;
    r.type = JournalRecord::Type::kLaunching;
    out += EncodeRecord(r);
    r.type = JournalRecord::Type::kStarted;
    out += EncodeRecord(r);
    r.type = JournalRecord::Type::kFinished;
    r.time = t + 0.5;
    r.started_at = t;
    r.decision = Decision::kSucceeded;
    out += EncodeRecord(r);
  }
  return out;
}

bool WriteRun(const std::string& run_dir, size_t n) {
  std::string plan = "{\"tasks\": [\n";
  for (size_t i = 0; i < n; ++i) {
    plan += "{\"id\": \"task-" + std::to_string(i) + "\", \"command\": \"true\"";
    if (i >= 10) plan += ", \"depends_on\": [\"task-" + std::to_string(i - 10) + "\"]";
    plan += i + 1 < n ? "},\n" : "}\n";
  }
  plan += "]}\n";
  JournalRecord start;
  start.type = JournalRecord::Type::kRunStarted;
  start.detail = "big";
  start.job_id = "local";
  start.time = WallSeconds();
  RunLayout layout(run_dir);
  return MakeDirs(run_dir).ok() && WriteFileAtomic(layout.plan(), plan).ok() &&
         WriteFileAtomic(layout.journal(), EncodeRecord(start) + TaskRecords(0, n / 2, start.time)).ok();
}

bool Append(const std::string& path, const std::string& bytes) {
  FILE* f = std::fopen(path.c_str(), "a");
  if (!f) return false;
  std::fwrite(bytes.data(), 1, bytes.size(), f);
  return std::fclose(f) == 0;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// Phase 1: the live update of a large run.
int Updates(Dashboard& d, const std::string& run_dir, size_t n) {
  double t0 = MonotonicSeconds();
  Result<std::string> first = d.RunJson("big", 0, 500);
  if (!first.ok()) {
    std::fprintf(stderr, "cannot open the run: %s\n", first.status().ToString().c_str());
    return 1;
  }
  std::printf("open a %zu-task run (plan, half the journal): %.0f ms, peak RSS %.0f MiB\n", n,
              (MonotonicSeconds() - t0) * 1000, PeakRssMiB());
  std::vector<double> update_ms;
  size_t done = n / 2;
  for (int i = 0; i < 20 && done < n; ++i) {
    const size_t next = std::min(n, done + 1000);
    if (!Append(RunLayout(run_dir).journal(), TaskRecords(done, next, WallSeconds()))) return 1;
    done = next;
    t0 = MonotonicSeconds();
    // What one stream tick does (Dashboard::Events): refresh, summary, changes.
    Result<std::string> page = d.RunJson("big", static_cast<int64_t>(done - 1000), 1000);
    update_ms.push_back((MonotonicSeconds() - t0) * 1000);
    if (!page.ok()) return 1;
  }
  std::printf("live update, 1,000 tasks finished per update: median %.1f ms, max %.1f ms "
              "(goal: under 200 ms)\n",
              Percentile(update_ms, 0.5), Percentile(update_ms, 1.0));
  return 0;
}

// Phase 2: pollers and slowloris clients at once.
int Load(Dashboard& d, const Options& o) {
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<double> latency_ms;
  std::atomic<long> failures{0}, requests{0}, cut{0};
  std::vector<std::thread> threads;
  for (int p = 0; p < o.pollers; ++p) {
    threads.emplace_back([&, p] {
      auto client = std::make_unique<RawClient>(d.port());
      std::vector<double> mine;
      for (int round = 0; !stop; ++round) {
        const std::string target = round % 2 ? "/api/runs"
                                              : "/api/runs/big?offset=" + std::to_string(p * 100) +
                                                    "&limit=100";
        const double t0 = MonotonicSeconds();
        std::string got;
        if (client->Send(RawGet(target))) got = client->ReadResponse(10);
        ++requests;
        if (got.rfind("HTTP/1.1 200", 0) != 0) {
          ++failures;
          client = std::make_unique<RawClient>(d.port());
        } else {
          mine.push_back((MonotonicSeconds() - t0) * 1000);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1000));
      }
      std::lock_guard<std::mutex> l(mu);
      latency_ms.insert(latency_ms.end(), mine.begin(), mine.end());
    });
  }
  threads.emplace_back([&] {
    std::vector<std::unique_ptr<RawClient>> slow;
    for (int i = 0; i < o.slowloris; ++i) slow.push_back(std::make_unique<RawClient>(d.port()));
    for (int line = 0; !stop; ++line) {
      for (auto& c : slow) {
        if (!c->Send(line == 0 ? "GET /api/runs HTTP/1.1\r\n" : "X-Drip: " + std::to_string(line) + "\r\n")) {
          ++cut;
          c = std::make_unique<RawClient>(d.port());
          c->Send("GET /api/runs HTTP/1.1\r\n");
        }
      }
      for (int i = 0; i < 20 && !stop; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  stop = true;
  for (std::thread& t : threads) t.join();
  HttpServerStats s = d.stats();
  std::printf("load: %d keep-alive pollers + %d slowloris for %.0f s: %ld requests, %ld failed, "
              "latency p50 %.1f ms, p95 %.1f ms, p99 %.1f ms (goal: none failed, p95 under 100 ms); "
              "server cut %llu connections at a timeout\n",
              o.pollers, o.slowloris, o.seconds, requests.load(), failures.load(),
              Percentile(latency_ms, 0.5), Percentile(latency_ms, 0.95), Percentile(latency_ms, 0.99),
              static_cast<unsigned long long>(s.timed_out));
  return failures == 0 ? 0 : 1;
}

int Main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--tasks") o.tasks = std::strtoull(v.c_str(), nullptr, 10);
    else if (k == "--pollers") o.pollers = std::atoi(v.c_str());
    else if (k == "--slowloris") o.slowloris = std::atoi(v.c_str());
    else if (k == "--seconds") o.seconds = std::atof(v.c_str());
    else if (k == "--dir") o.dir = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", k.c_str());
      return 2;
    }
  }
  const std::string out = o.dir + "/porch-dashboard-bench-" + std::to_string(getpid());
  const std::string run_dir = RunLayout::RunDir(out, "big");
  if (!WriteRun(run_dir, o.tasks)) {
    std::fprintf(stderr, "cannot write the run under %s\n", out.c_str());
    return 1;
  }
  Dashboard d({out, "127.0.0.1", 0, ""});
  if (Status st = d.Start(); !st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  int rc = Updates(d, run_dir, o.tasks);
  if (rc == 0) rc = Load(d, o);
  d.Stop();
  if (std::system(("rm -rf '" + out + "'").c_str()) != 0) std::fprintf(stderr, "cannot remove %s\n", out.c_str());
  return rc;
}

}  // namespace
}  // namespace porch

int main(int argc, char** argv) { return porch::Main(argc, argv); }
