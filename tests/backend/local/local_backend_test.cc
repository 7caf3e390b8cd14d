#include "backend/local/local_backend.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <sstream>

#include "config/config.h"
#include "exec/attempt.h"
#include "exec/spawner.h"
#include "model/result_file.h"
#include "plan/plan_parser.h"
#include "platform/files.h"
#include "platform/signals.h"
#include "test_util.h"

namespace porch {
namespace {

// The local backend with its real spawner (this build's porch binary) on a
// run directory that holds the tasks' plan, as a run's does.
class LocalBackendTest : public ::testing::Test {
 protected:
  LocalBackendTest() : layout_(dir_.path() + "/run") {
    EXPECT_TRUE(MakeDirs(layout_.output()).ok());
  }

  Task Command(const std::string& id, const std::string& cmd) {
    Task t;
    t.id = id;
    t.command = cmd;
    return t;
  }

  // Writes plan.json (and config.json with `config_json`) for `tasks`.
  void Plan(const std::vector<Task>& tasks, const std::string& config_json = "{}") {
    porch::Plan plan;
    plan.tasks = tasks;
    ASSERT_TRUE(WriteFileAtomic(layout_.plan(), PlanToJsonText(plan)).ok());
    ASSERT_TRUE(WriteFileAtomic(layout_.config(), config_json).ok());
  }

  // For one slot: "quick" (running `quick_command`), then "blocked" until
  // the test makes output/go, while "last" is held; ranked in that order.
  std::vector<Task> OneSlotHolding(const std::string& quick_command) {
    std::vector<Task> tasks = {Command("quick", quick_command),
                               Command("blocked", "while [ ! -f go ]; do sleep 0.02; done"),
                               Command("last", "true")};
    Plan(tasks);
    return tasks;
  }
  // A one-slot backend with OneSlotHolding's `tasks` submitted in rank
  // order; their ids go to `ids` (a failed submission fails the test).
  std::unique_ptr<LocalBackend> HoldingBackend(const std::vector<Task>& tasks, std::vector<std::string>* ids) {
    LocalBackendOptions o = Options();
    o.slots = 1;
    auto b = std::make_unique<LocalBackend>(layout_, &clock_, o);
    for (const auto& id : b->Submit(Ranked(tasks))) {
      EXPECT_TRUE(id.ok()) << id.status().ToString();
      ids->push_back(id.ok() ? *id : "");
    }
    return b;
  }
  static std::vector<Launch> Ranked(const std::vector<Task>& tasks) {
    std::vector<Launch> launches;
    for (size_t i = 0; i < tasks.size(); ++i) {
      launches.push_back({static_cast<Dag::Index>(i), &tasks[i], 1, 0, {}, tasks.size() - i});
    }
    return launches;
  }

  LocalBackendOptions Options() {
    LocalBackendOptions o;
    o.porch_path = PORCH_BINARY;
    return o;
  }

  // Waits until `n` finished events arrived (or 20 s passed).
  std::vector<BackendEvent> Collect(LocalBackend& b, size_t n) {
    std::vector<BackendEvent> finished;
    double until = clock_.Now() + 20;
    while (finished.size() < n && clock_.Now() < until) {
      for (const BackendEvent& ev : b.Wait(clock_.Now() + 1)) {
        if (ev.kind == BackendEvent::Kind::kFinished) finished.push_back(ev);
      }
    }
    return finished;
  }

  // A kept command's job id, with its keeper.
  struct Kept {
    std::string id;
    int keeper = 0;
    unsigned long long keeper_ticks = 0;
  };
  // Submits attempt 1 of `t` (task index 0) from a porch that then goes away.
  Kept SubmitAndLeave(const Task& t) {
    LocalBackend gone(layout_, &clock_, Options());
    std::vector<Launch> launches = {{0, &t, 1, 0}};
    Result<std::string> id = gone.Submit(launches)[0];
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    Kept k;
    k.id = id.ok() ? *id : "";
    int pid = 0;
    unsigned long long ticks = 0;
    EXPECT_EQ(std::sscanf(k.id.c_str(), "local:%d:%llu:%d:%llu", &pid, &ticks, &k.keeper, &k.keeper_ticks), 4)
        << k.id;
    return k;
  }

  SignalGuard signals_;
  TempDir dir_;
  RunLayout layout_;
  RealClock clock_;
};

TEST_F(LocalBackendTest, RunsCommandsAndReportsOutcomes) {
  Task ok = Command("ok", "echo hi > ok.txt");
  Task bad = Command("bad", "echo nope >&2; exit 4");
  Plan({ok, bad});
  LocalBackend b(layout_, &clock_, Options());
  std::vector<Launch> launches = {{0, &ok, 1, 0}, {1, &bad, 1, 0}};
  auto ids = b.Submit(launches);
  ASSERT_EQ(ids.size(), 2u);
  ASSERT_TRUE(ids[0].ok());
  EXPECT_EQ(ids[0]->rfind("local:", 0), 0u);
  auto events = Collect(b, 2);
  ASSERT_EQ(events.size(), 2u);
  for (const BackendEvent& ev : events) {
    if (ev.index == 0) {
      EXPECT_EQ(ev.reason, FailureReason::kNone);
    } else {
      EXPECT_EQ(ev.reason, FailureReason::kExitCode);
      EXPECT_EQ(ev.exit_code, 4);
    }
  }
  EXPECT_EQ(*ReadFile(layout_.output() + "/ok.txt"), "hi\n");
  // Results go to the run's results log; a command keeps a directory only
  // for what it printed.
  ResultLog log(layout_.results_log());
  log.Refresh();
  ASSERT_NE(log.Find("ok", 1), nullptr);
  EXPECT_TRUE(log.Find("ok", 1)->ok());
  ASSERT_NE(log.Find("bad", 1), nullptr);
  EXPECT_EQ(log.Find("bad", 1)->exit_code, 4);
  EXPECT_FALSE(PathExists(layout_.attempt_dir("ok", 1)));
  EXPECT_FALSE(PathExists(layout_.result_path("bad", 1)));
  EXPECT_FALSE(PathExists(layout_.stdout_path("bad", 1)));
  EXPECT_EQ(*ReadFile(layout_.stderr_path("bad", 1)), "nope\n");
}

// A command that names its attempt directory finds it made.
TEST_F(LocalBackendTest, ACommandNamingItsAttemptDirectoryFindsIt) {
  Task t = Command("t", "echo kept > \"$PORCH_ATTEMPT_DIR/note\"");
  Plan({t});
  LocalBackend b(layout_, &clock_, Options());
  std::vector<Launch> launches = {{0, &t, 1, 0}};
  ASSERT_TRUE(b.Submit(launches)[0].ok());
  auto events = Collect(b, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, FailureReason::kNone) << events[0].detail;
  EXPECT_EQ(*ReadFile(layout_.attempt_dir("t", 1) + "/note"), "kept\n");
}

TEST_F(LocalBackendTest, PromptTaskWithoutTheCliFailsClearly) {
  Task ai;
  ai.id = "ai";
  ai.prompt = "write code";
  Plan({ai}, R"({"agent.claude_path": "/nonexistent/claude"})");
  LocalBackend b(layout_, &clock_, Options());
  std::vector<Launch> launches = {{0, &ai, 1, 0}};
  ASSERT_TRUE(b.Submit(launches)[0].ok());
  auto events = Collect(b, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, FailureReason::kCommandNotFound);
  EXPECT_NE(events[0].detail.find("Claude Code CLI is not installed at '/nonexistent/claude'"),
            std::string::npos)
      << events[0].detail;
  EXPECT_TRUE(IsDirectory(layout_.attempt_dir("ai", 1) + "/workspace"));
}

TEST_F(LocalBackendTest, CancelStopsTheCommand) {
  Task slow = Command("slow", "touch started; sleep 30");
  Plan({slow});
  LocalBackend b(layout_, &clock_, Options());
  std::vector<Launch> launches = {{0, &slow, 1, 0}};
  ASSERT_TRUE(b.Submit(launches)[0].ok());
  for (int i = 0; i < 2000 && !PathExists(layout_.output() + "/started"); ++i) b.Wait(clock_.Now() + 0.01);
  b.Cancel(0, 1);
  auto events = Collect(b, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, FailureReason::kCancelled);
}

TEST_F(LocalBackendTest, TimeLimitIsEnforced) {
  Task slow = Command("slow", "sleep 30");
  Plan({slow}, R"({"kill_grace_seconds": "0.2"})");
  LocalBackend b(layout_, &clock_, Options());
  std::vector<Launch> launches = {{0, &slow, 1, 0.3}};
  ASSERT_TRUE(b.Submit(launches)[0].ok());
  auto events = Collect(b, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, FailureReason::kTimeout);
}

TEST_F(LocalBackendTest, RecoverReadoptsAProcessOfAnEarlierPorch) {
  // A supervisor that is not our child, as after porch was killed: start it
  // from a grandchild that exits at once.
  Task slow = Command("slow", "sleep 0.6; echo done > slow.txt");
  EXPECT_TRUE(MakeDirs(layout_.attempt_dir("slow", 1)).ok());
  porch::Plan plan;
  plan.tasks.push_back(slow);
  Config config;
  config.kill_grace_seconds = 1;
  AttemptSpec spec = MakeAttemptSpec(layout_, plan, slow, 1, 0, config, {});
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t mid = fork();
  if (mid == 0) {
    pid_t runner = fork();
    if (runner == 0) {
      setsid();
      _exit(RunAttempt(spec));
    }
    unsigned long long ticks = ProcessStartTicks(runner);
    dprintf(pipefd[1], "local:%d:%llu", runner, ticks);
    _exit(0);
  }
  waitpid(mid, nullptr, 0);
  char buf[64] = {};
  ASSERT_GT(read(pipefd[0], buf, sizeof buf - 1), 0);
  close(pipefd[0]);
  close(pipefd[1]);

  LocalBackend b(layout_, &clock_, Options());
  InFlight f{0, &slow, 1, buf};
  EXPECT_EQ(*b.Recover(f), RecoverOutcome::kAdopted);
  auto events = Collect(b, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, FailureReason::kNone);
  EXPECT_EQ(*ReadFile(layout_.output() + "/slow.txt"), "done\n");
}

// porch died after the spawner started the attempt but before porch
// journaled its job id: spawned.log still leads to the supervisor.
TEST_F(LocalBackendTest, RecoverFindsAnAttemptWhoseJobIdWasNeverJournaled) {
  Task slow = Command("slow", "while [ ! -f go ]; do sleep 0.01; done; echo done > slow.txt");
  Plan({slow});
  {
    LocalBackend first(layout_, &clock_, Options());
    std::vector<Launch> launches = {{0, &slow, 1, 0}};
    ASSERT_TRUE(first.Submit(launches)[0].ok());
  }  // porch goes away; the supervisor runs on
  LocalBackend b(layout_, &clock_, Options());
  EXPECT_EQ(*b.Recover({0, &slow, 1, ""}), RecoverOutcome::kAdopted);
  ASSERT_TRUE(WriteFileFast(layout_.output() + "/go", "").ok());
  auto events = Collect(b, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, FailureReason::kNone);
  EXPECT_EQ(*ReadFile(layout_.output() + "/slow.txt"), "done\n");
}

// A command attempt is kept by the spawner, which outlives porch: its job id
// names the command and its keeper, by which a later porch adopts it, and
// cancels it through the keeper.
TEST_F(LocalBackendTest, AKeptCommandOutlivesPorchAndIsCancelledThroughItsKeeper) {
  Task slow = Command("slow", "touch started; sleep 30");
  Plan({slow});
  auto [id, keeper, keeper_ticks] = SubmitAndLeave(slow);
  ASSERT_GT(keeper, 0);
  EXPECT_EQ(ProcessStartTicks(keeper), keeper_ticks) << "the keeper ended with porch";
  for (int i = 0; i < 2000 && !PathExists(layout_.output() + "/started"); ++i) usleep(10 * 1000);
  LocalBackend b(layout_, &clock_, Options());
  Result<RecoverOutcome> adopted = b.Recover({0, &slow, 1, id});
  ASSERT_TRUE(adopted.ok());
  EXPECT_EQ(*adopted, RecoverOutcome::kAdopted);
  b.Cancel(0, 1);
  auto events = Collect(b, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, FailureReason::kCancelled) << events[0].detail;
  // Its work done, the keeper leaves.
  for (int i = 0; i < 500 && ProcessStartTicks(keeper) == keeper_ticks; ++i) usleep(10 * 1000);
  EXPECT_NE(ProcessStartTicks(keeper), keeper_ticks);
}

// A keeper killed under its command: resume waits for the command it can
// still see, and only then calls the attempt lost (never a second copy
// beside the first).
TEST_F(LocalBackendTest, ACommandWhoseKeeperWasKilledIsWaitedForThenLost) {
  Task slow = Command("slow", "while [ ! -f go ]; do sleep 0.01; done; echo done > slow.txt");
  Plan({slow});
  auto [id, keeper, keeper_ticks] = SubmitAndLeave(slow);
  ASSERT_GT(keeper, 0);
  ASSERT_EQ(kill(keeper, SIGKILL), 0);
  for (int i = 0; i < 500 && ProcessStartTicks(keeper) == keeper_ticks; ++i) usleep(10 * 1000);
  LocalBackend b(layout_, &clock_, Options());
  Result<RecoverOutcome> adopted = b.Recover({0, &slow, 1, id});
  ASSERT_TRUE(adopted.ok());
  EXPECT_EQ(*adopted, RecoverOutcome::kAdopted) << "the command still runs";
  EXPECT_TRUE(b.Wait(clock_.Now() + 0.3).empty());
  ASSERT_TRUE(WriteFileFast(layout_.output() + "/go", "").ok());
  auto events = Collect(b, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].reason, FailureReason::kLost) << "no keeper, no result: it runs again, uncharged";
  EXPECT_EQ(*ReadFile(layout_.output() + "/slow.txt"), "done\n") << "it was waited for to its end";
}

// With slots (the executor budget), the spawner takes more attempts than it
// runs and starts each as a slot frees: never more than M at once; a held
// attempt can be cancelled; one still held when porch goes never starts
// and says so.
TEST_F(LocalBackendTest, HeldAttemptsStartAsSlotsFreeAndNeverBeyondM) {
  std::vector<Task> tasks;
  for (int i = 0; i < 4; ++i) {
    const std::string n = std::to_string(i);
    tasks.push_back(Command("t" + n, "mkdir running.lock && sleep 0.2 && rmdir running.lock && touch t" + n));
  }
  Plan(tasks);
  LocalBackendOptions o = Options();
  o.slots = 1;
  LocalBackend b(layout_, &clock_, o);
  EXPECT_EQ(b.capabilities().queues_ahead, kHeldPerSlot);
  std::vector<Launch> launches;
  for (int i = 0; i < 4; ++i) launches.push_back({static_cast<Dag::Index>(i), &tasks[i], 1, 0});
  auto ids = b.Submit(launches);
  for (const auto& id : ids) ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_EQ(ids[1]->rfind("local:0:0:", 0), 0u) << "held: no pid yet, " << *ids[1];
  b.Cancel(3, 1);  // still held
  // Each attempt that ran is told started once, before its end.
  std::vector<BackendEvent> events;
  std::map<Dag::Index, int> started;
  for (double until = clock_.Now() + 20; events.size() < 4 && clock_.Now() < until;) {
    for (const BackendEvent& ev : b.Wait(clock_.Now() + 1)) {
      if (ev.kind == BackendEvent::Kind::kStarted) {
        ++started[ev.index];
        continue;
      }
      EXPECT_EQ(started[ev.index], ev.index == 3 ? 0 : 1) << "task " << ev.index;
      events.push_back(ev);
    }
  }
  ASSERT_EQ(events.size(), 4u);
  for (const BackendEvent& ev : events) {
    if (ev.index == 3) {
      EXPECT_EQ(ev.reason, FailureReason::kCancelled) << ev.detail;
    } else {
      EXPECT_EQ(ev.reason, FailureReason::kNone) << "two at once would have met the lock: " << ev.detail;
    }
  }
  EXPECT_FALSE(PathExists(layout_.output() + "/t3")) << "a cancelled held attempt never started";
}

TEST_F(LocalBackendTest, HeldAttemptsStartLargestPriorityFirst) {
  // One slot, taken by "first" until the test lets it end: the others wait,
  // and start in the scheduler's order, not in the order they came.
  std::vector<Task> tasks = {Command("first", "while [ ! -f go ]; do sleep 0.01; done; echo first >> order")};
  for (const char* id : {"low", "high", "middle"}) {
    tasks.push_back(Command(id, std::string("echo ") + id + " >> order"));
  }
  Plan(tasks);
  LocalBackendOptions o = Options();
  o.slots = 1;
  LocalBackend b(layout_, &clock_, o);
  std::vector<Launch> launches = {{0, &tasks[0], 1, 0}, {1, &tasks[1], 1, 0, {}, 1},
                                  {2, &tasks[2], 1, 0, {}, 5}, {3, &tasks[3], 1, 0, {}, 3}};
  auto ids = b.Submit(launches);
  for (const auto& id : ids) ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_TRUE(WriteFileFast(layout_.output() + "/go", "").ok());
  size_t ended = 0;
  for (double until = clock_.Now() + 20; ended < 4 && clock_.Now() < until;) {
    for (const BackendEvent& ev : b.Wait(clock_.Now() + 1)) {
      if (ev.kind != BackendEvent::Kind::kFinished) continue;
      EXPECT_EQ(ev.reason, FailureReason::kNone) << ev.detail;
      ++ended;
    }
  }
  ASSERT_EQ(ended, 4u);
  Result<std::string> order = ReadFile(layout_.output() + "/order");
  ASSERT_TRUE(order.ok());
  EXPECT_EQ(*order, "first\nhigh\nmiddle\nlow\n");
}

TEST_F(LocalBackendTest, AnEndIsToldWhileTheSpawnerStillHoldsAttempts) {
  // While it holds attempts the spawner may keep an end back briefly, never
  // until something else happens: "quick" ends, "blocked" takes its slot
  // and runs until the test lets it go, "last" stays held meanwhile.
  const std::vector<Task> tasks = OneSlotHolding("true");
  std::vector<std::string> ids;
  std::unique_ptr<LocalBackend> held = HoldingBackend(tasks, &ids);
  ASSERT_FALSE(HasFailure());
  LocalBackend& b = *held;
  bool quick_ended = false, blocked_started = false;
  for (double until = clock_.Now() + 10; !(quick_ended && blocked_started) && clock_.Now() < until;) {
    for (const BackendEvent& ev : b.Wait(clock_.Now() + 1)) {
      if (ev.kind == BackendEvent::Kind::kStarted && ev.index == 1) blocked_started = true;
      if (ev.kind == BackendEvent::Kind::kFinished) {
        EXPECT_EQ(ev.index, 0u) << "only quick can end before go";
        quick_ended = true;
      }
    }
  }
  EXPECT_TRUE(quick_ended) << "quick's end was kept back while 'last' was held";
  EXPECT_TRUE(blocked_started);
  ASSERT_TRUE(WriteFileFast(layout_.output() + "/go", "").ok());
  size_t ended = 0;
  for (double until = clock_.Now() + 10; ended < 2 && clock_.Now() < until;) {
    for (const BackendEvent& ev : b.Wait(clock_.Now() + 1)) ended += ev.kind == BackendEvent::Kind::kFinished;
  }
  EXPECT_EQ(ended, 2u);
}

TEST_F(LocalBackendTest, AHeldAttemptTheMachineCannotStartEndsLostWithTheReason) {
  // "last" is held while "blocked" runs; then the spawner may open no more
  // files, so "last" cannot start once the slot frees. Not the task's
  // fault: lost (it runs again, uncharged), and the reason is the machine's.
  const std::vector<Task> tasks = OneSlotHolding("true");
  std::vector<std::string> ids;
  std::unique_ptr<LocalBackend> held = HoldingBackend(tasks, &ids);
  ASSERT_FALSE(HasFailure());
  LocalBackend& b = *held;
  int pid = 0, keeper = 0;
  unsigned long long ticks = 0, keeper_ticks = 0;
  ASSERT_EQ(std::sscanf(ids[2].c_str(), "local:%d:%llu:%d:%llu", &pid, &ticks, &keeper, &keeper_ticks), 4)
      << ids[2];
  std::vector<BackendEvent> ended;
  bool blocked_started = false;
  for (double until = clock_.Now() + 10; !blocked_started && clock_.Now() < until;) {
    for (const BackendEvent& ev : b.Wait(clock_.Now() + 1)) {
      if (ev.kind == BackendEvent::Kind::kStarted && ev.index == 1) blocked_started = true;
      if (ev.kind == BackendEvent::Kind::kFinished) ended.push_back(ev);
    }
  }
  ASSERT_TRUE(blocked_started);
  // Every descriptor the spawner opens from now on fails with EMFILE.
  rlimit few{};
  ASSERT_EQ(prlimit(keeper, RLIMIT_NOFILE, nullptr, &few), 0) << std::strerror(errno);
  few.rlim_cur = 3;
  ASSERT_EQ(prlimit(keeper, RLIMIT_NOFILE, &few, nullptr), 0) << std::strerror(errno);
  ASSERT_TRUE(WriteFileFast(layout_.output() + "/go", "").ok());
  for (double until = clock_.Now() + 10; ended.size() < 3 && clock_.Now() < until;) {
    for (const BackendEvent& ev : b.Wait(clock_.Now() + 1)) {
      if (ev.kind == BackendEvent::Kind::kFinished) ended.push_back(ev);
    }
  }
  ASSERT_EQ(ended.size(), 3u);
  for (const BackendEvent& ev : ended) {
    if (PORCH_SANITIZED) {
      // The sanitizers' runtime needs descriptors of its own (UBSan checks
      // a vptr by probing memory through a pipe, and reports the object
      // invalid when it cannot), so there a spawner starved of them may be
      // ended by the sanitizer rather than by EMFILE; what still holds is
      // that nothing is charged to a task: "last" is lost, the others end
      // well or are lost too. The plain build checks the reason.
      EXPECT_TRUE(ev.reason == FailureReason::kLost || (ev.index != 2 && ev.reason == FailureReason::kNone))
          << ev.index << ": " << ev.detail;
      continue;
    }
    if (ev.index != 2) {
      EXPECT_EQ(ev.reason, FailureReason::kNone) << ev.detail;
      continue;
    }
    EXPECT_EQ(ev.reason, FailureReason::kLost) << ev.detail;
    EXPECT_NE(ev.detail.find("cannot start the command: " + std::string(std::strerror(EMFILE))), std::string::npos)
        << ev.detail;
    EXPECT_EQ(ev.detail.find("disk"), std::string::npos) << ev.detail;
  }
}

// CPU seconds process `pid` used so far (utime + stime).
double CpuSeconds(int pid) {
  Result<std::string> stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return -1;
  std::istringstream in(stat->substr(stat->rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i >= 14) ticks += std::strtod(field.c_str(), nullptr);
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

TEST_F(LocalBackendTest, ASpawnerWhosePorchWentAwayWithEndsUntoldWaitsIdle) {
  // "quick" ends while "last" is held, so its end waits to be told (the
  // delay made 0.4 s here); porch goes before that, and the delay passes.
  // The spawner keeps "blocked" to its end, idle meanwhile: what it could
  // not tell is dropped, not due again and again.
  const std::vector<Task> tasks = OneSlotHolding("env > quick-env && touch quick-done");
  LocalBackendOptions o = Options();
  o.slots = 1;
  o.env = CurrentEnvironment();
  o.env["PORCH_SPAWNER_EVENT_DELAY_MS"] = "400";
  int keeper = 0;
  unsigned long long keeper_ticks = 0;
  {
    LocalBackend gone(layout_, &clock_, o);
    auto ids = gone.Submit(Ranked(tasks));
    for (const auto& id : ids) ASSERT_TRUE(id.ok()) << id.status().ToString();
    int pid = 0;
    unsigned long long ticks = 0;
    ASSERT_EQ(std::sscanf(ids[0]->c_str(), "local:%d:%llu:%d:%llu", &pid, &ticks, &keeper, &keeper_ticks), 4)
        << *ids[0];
    for (int i = 0; i < 500 && !PathExists(layout_.output() + "/quick-done"); ++i) usleep(10 * 1000);
    ASSERT_TRUE(PathExists(layout_.output() + "/quick-done"));
    usleep(30 * 1000);  // its end recorded, and held back
  }
  // The spawner's knob is its own: the attempts never see it.
  Result<std::string> env = ReadFile(layout_.output() + "/quick-env");
  ASSERT_TRUE(env.ok());
  EXPECT_NE(env->find("PORCH_TASK_ID=quick"), std::string::npos) << *env;
  EXPECT_EQ(env->find("PORCH_SPAWNER_EVENT_DELAY_MS"), std::string::npos) << *env;
  usleep(600 * 1000);  // the spawner saw porch go; the delay is over
  const double before = CpuSeconds(keeper);
  ASSERT_GE(before, 0) << "the spawner ended while it kept 'blocked'";
  usleep(1000 * 1000);
  const double used = CpuSeconds(keeper) - before;
  EXPECT_LT(used, 0.3) << "the spawner spun with no porch to tell";
  ASSERT_TRUE(WriteFileFast(layout_.output() + "/go", "").ok());
  for (int i = 0; i < 500 && ProcessRuns(keeper, keeper_ticks); ++i) usleep(10 * 1000);
  EXPECT_FALSE(ProcessRuns(keeper, keeper_ticks)) << "the spawner outlived its last command";
}

TEST_F(LocalBackendTest, AnAttemptHeldWhenPorchGoesNeverStartsAndRunsAgainUncharged) {
  Task first = Command("first", "while [ ! -f go ]; do sleep 0.01; done");
  Task held = Command("held", "touch held-ran");
  Plan({first, held});
  LocalBackendOptions o = Options();
  o.slots = 1;
  std::string first_id, held_id;
  {
    LocalBackend gone(layout_, &clock_, o);
    std::vector<Launch> launches = {{0, &first, 1, 0}, {1, &held, 1, 0}};
    auto ids = gone.Submit(launches);
    ASSERT_TRUE(ids[0].ok());
    ASSERT_TRUE(ids[1].ok());
    first_id = *ids[0];
    held_id = *ids[1];
  }  // porch goes while `held` waits for the slot
  // The spawner says so in the results log before anything else ends.
  std::optional<AttemptResult> dropped;
  for (int i = 0; i < 500 && !dropped; ++i, usleep(10 * 1000)) {
    dropped = ResultLog::Scan(layout_.results_log(), "held", 1);
  }
  ASSERT_TRUE(dropped.has_value());
  EXPECT_EQ(dropped->reason, FailureReason::kLost);
  EXPECT_NE(dropped->detail.find("porch went away"), std::string::npos) << dropped->detail;
  LocalBackend b(layout_, &clock_, Options());
  for (const InFlight& f : {InFlight{0, &first, 1, first_id}, InFlight{1, &held, 1, held_id}}) {
    Result<RecoverOutcome> r = b.Recover(f);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(*r, RecoverOutcome::kAdopted);
  }
  ASSERT_TRUE(WriteFileFast(layout_.output() + "/go", "").ok());
  auto events = Collect(b, 2);  // `first` to its end: nothing outlives the test
  ASSERT_EQ(events.size(), 2u);
  for (const BackendEvent& ev : events) {
    EXPECT_EQ(ev.reason, ev.index == 1 ? FailureReason::kLost : FailureReason::kNone) << ev.detail;
  }
  EXPECT_FALSE(PathExists(layout_.output() + "/held-ran"));
}

TEST_F(LocalBackendTest, AnUnknownTaskIsRefusedAsInvalid) {
  Plan({Command("known", "true")});
  LocalBackend b(layout_, &clock_, Options());
  Task stranger = Command("stranger", "true");
  std::vector<Launch> launches = {{0, &stranger, 1, 0}};
  Result<std::string> id = b.Submit(launches)[0];
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(id.status().message().find("no task 'stranger'"), std::string::npos);
}

TEST_F(LocalBackendTest, RecoverIngestsAFinishedResultAndReportsLost) {
  Task done = Command("done", "true");
  EXPECT_TRUE(MakeDirs(layout_.attempt_dir("done", 1)).ok());
  AttemptResult r;
  r.task_id = "done";
  r.attempt = 1;
  r.exit_code = 0;
  r.started_at = 10;
  r.finished_at = 12;
  ASSERT_TRUE(WriteFileAtomic(layout_.result_path("done", 1), AttemptResultToJson(r)).ok());
  Task gone = Command("gone", "true");
  LocalBackend b(layout_, &clock_, Options());
  EXPECT_EQ(*b.Recover({0, &done, 1, "local:1:1"}), RecoverOutcome::kAdopted);
  EXPECT_EQ(*b.Recover({1, &gone, 1, "local:999999:123"}), RecoverOutcome::kLost);
  EXPECT_EQ(*b.Recover({1, &gone, 1, ""}), RecoverOutcome::kLost);
  auto events = b.Wait(clock_.Now());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].index, 0u);
  EXPECT_DOUBLE_EQ(events[0].started_at, 10);
}

}  // namespace
}  // namespace porch
