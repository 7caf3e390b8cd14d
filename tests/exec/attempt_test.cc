#include "exec/attempt.h"
#include "exec/command_line.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

// Runs the attempt in a child process, as the local backend and
// `porch exec-task` do (RunAttempt changes the signal mask).
class AttemptTest : public ::testing::Test {
 protected:
  AttemptSpec Spec(const std::string& command) {
    AttemptSpec s;
    s.task_id = "t";
    s.attempt = 1;
    s.command = command;
    s.workdir = dir_.path();
    s.stdout_path = dir_.path() + "/stdout";
    s.stderr_path = dir_.path() + "/stderr";
    s.result_path = dir_.path() + "/result.json";
    s.grace_s = 0.5;
    return s;
  }

  pid_t Start(const AttemptSpec& spec) {
    pid_t pid = fork();
    if (pid == 0) _exit(RunAttempt(spec));
    return pid;
  }

  int RunChild(const AttemptSpec& spec) {
    int status = 0;
    waitpid(Start(spec), &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  // Waits (up to 30 s) until `name` exists in the test directory: the
  // command reached that point. No fixed sleeps.
  bool WaitForFile(const std::string& name) {
    for (int i = 0; i < 3000; ++i) {
      if (PathExists(dir_.path() + "/" + name)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  AttemptResult Result() {
    auto r = ReadAttemptResult(dir_.path() + "/result.json");
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? *r : AttemptResult{};
  }

  TempDir dir_;
};

TEST_F(AttemptTest, SuccessCapturesOutputAndEnvironment) {
  AttemptSpec spec = Spec("echo out; echo err >&2; echo \"$PORCH_X\" > made.txt");
  spec.env["PORCH_X"] = "hello";
  EXPECT_EQ(RunChild(spec), kExecOk);
  AttemptResult r = Result();
  EXPECT_TRUE(r.ok());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.task_id, "t");
  EXPECT_GE(r.finished_at, r.started_at);
  EXPECT_EQ(*ReadFile(dir_.path() + "/stdout"), "out\n");
  EXPECT_EQ(*ReadFile(dir_.path() + "/stderr"), "err\n");
  EXPECT_EQ(*ReadFile(dir_.path() + "/made.txt"), "hello\n");
}

TEST_F(AttemptTest, NonZeroExit) {
  EXPECT_EQ(RunChild(Spec("exit 3")), kExecTaskFailed);
  AttemptResult r = Result();
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.reason, FailureReason::kExitCode);
  EXPECT_EQ(r.detail, "exit 3");
}

TEST_F(AttemptTest, CommandNotFoundIsItsOwnReason) {
  EXPECT_EQ(RunChild(Spec("definitely-not-a-command-porch")), kExecTaskFailed);
  EXPECT_EQ(Result().reason, FailureReason::kCommandNotFound);
}

TEST_F(AttemptTest, TimeLimitKillsTheWholeGroup) {
  AttemptSpec spec = Spec("sleep 30 & sleep 30; echo never");
  spec.time_limit_s = 0.3;
  EXPECT_EQ(RunChild(spec), kExecTaskFailed);
  AttemptResult r = Result();
  EXPECT_EQ(r.reason, FailureReason::kTimeout);
  EXPECT_NE(r.detail.find("time limit of 0.3s exceeded"), std::string::npos);
  EXPECT_LT(r.finished_at - r.started_at, 5.0);
  EXPECT_EQ(*ReadFile(dir_.path() + "/stdout"), "");
}

TEST_F(AttemptTest, TermIgnoringCommandIsKilledAfterGrace) {
  AttemptSpec spec = Spec("trap '' TERM; sleep 30");
  spec.time_limit_s = 0.2;
  spec.grace_s = 0.3;
  EXPECT_EQ(RunChild(spec), kExecTaskFailed);
  AttemptResult r = Result();
  EXPECT_EQ(r.reason, FailureReason::kTimeout);
  EXPECT_LT(r.finished_at - r.started_at, 5.0);
}

TEST_F(AttemptTest, SigtermToRunnerCancels) {
  pid_t pid = Start(Spec("touch started; sleep 30"));
  ASSERT_TRUE(WaitForFile("started"));
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  AttemptResult r = Result();
  EXPECT_EQ(r.reason, FailureReason::kCancelled);
}

TEST_F(AttemptTest, NoResultFileWhileRunningAndNoTempLeftAfter) {
  // The command holds until the test lets it go, so "while running" is
  // certain, not a guess about timing.
  pid_t pid = Start(Spec("touch started; while [ ! -f go ]; do sleep 0.01; done"));
  ASSERT_TRUE(WaitForFile("started"));
  EXPECT_FALSE(PathExists(dir_.path() + "/result.json"));
  ASSERT_TRUE(WriteFileFast(dir_.path() + "/go", "").ok());
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(PathExists(dir_.path() + "/result.json"));
  auto names = ListDir(dir_.path());
  ASSERT_TRUE(names.ok());
  for (const std::string& name : *names) {
    EXPECT_EQ(name.find(".tmp."), std::string::npos) << name;
  }
}

// A runner that cannot write its result leaves no result file, never a
// partial one. RLIMIT_FSIZE makes the write fail (SIGXFSZ kills the
// runner; with the signal ignored, the write fails with EFBIG). The room for
// the result is taken before the task starts, so here that is where it
// fails: the task never runs (exit kExecNotStarted), and porch runs the
// attempt again, uncharged.
TEST_F(AttemptTest, RunnerDyingMidResultWriteLeavesNoPartialResult) {
  for (bool ignore_signal : {false, true}) {
    SCOPED_TRACE(ignore_signal ? "SIGXFSZ ignored" : "SIGXFSZ kills");
    unlink((dir_.path() + "/result.json").c_str());
    AttemptSpec spec = Spec("true");
    pid_t pid = fork();
    if (pid == 0) {
      if (ignore_signal) signal(SIGXFSZ, SIG_IGN);
      rlimit lim{16, 16};
      setrlimit(RLIMIT_FSIZE, &lim);
      _exit(RunAttempt(spec));
    }
    int status = 0;
    waitpid(pid, &status, 0);
    if (ignore_signal) {
      ASSERT_TRUE(WIFEXITED(status));
      EXPECT_EQ(WEXITSTATUS(status), kExecNotStarted);
    } else {
      ASSERT_TRUE(WIFSIGNALED(status));
      EXPECT_EQ(WTERMSIG(status), SIGXFSZ);
    }
    EXPECT_FALSE(PathExists(dir_.path() + "/result.json"));
    EXPECT_EQ(ReadAttemptResult(dir_.path() + "/result.json").status().code(),
              Status::Code::kNotFound);
  }
}

TEST_F(AttemptTest, BadWorkdirIsSpawnFailure) {
  AttemptSpec spec = Spec("true");
  spec.workdir = dir_.path() + "/missing";
  EXPECT_EQ(RunChild(spec), kExecTaskFailed);
  AttemptResult r = Result();
  EXPECT_EQ(r.reason, FailureReason::kSpawnFailed);
  EXPECT_NE(r.detail.find("missing"), std::string::npos);
}

TEST(AttemptResultTest, JsonRoundTrip) {
  AttemptResult r;
  r.task_id = "x";
  r.attempt = 2;
  r.exit_code = 137;
  r.term_signal = 9;
  r.reason = FailureReason::kSignal;
  r.detail = "killed";
  r.started_at = 1.5;
  r.finished_at = 2.5;
  auto back = ParseAttemptResult(AttemptResultToJson(r), "r");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->task_id, "x");
  EXPECT_EQ(back->attempt, 2);
  EXPECT_EQ(back->exit_code, 137);
  EXPECT_EQ(back->term_signal, 9);
  EXPECT_EQ(back->reason, FailureReason::kSignal);
  EXPECT_FALSE(ParseAttemptResult("{}", "r").ok());
  EXPECT_EQ(ReadAttemptResult("/nonexistent/result.json").status().code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace porch

namespace porch {
namespace {

TEST(SplitSimpleCommandTest, PlainWordsRunWithoutAShell) {
  using V = std::vector<std::string>;
  EXPECT_EQ(SplitSimpleCommand("touch out/t1"), (V{"touch", "out/t1"}));
  EXPECT_EQ(SplitSimpleCommand("  cc -O2 -c a.c\t-o a.o "), (V{"cc", "-O2", "-c", "a.c", "-o", "a.o"}));
  EXPECT_EQ(SplitSimpleCommand("./mathx 6 7"), (V{"./mathx", "6", "7"}));
  EXPECT_EQ(SplitSimpleCommand("make CFLAGS=-O2"), (V{"make", "CFLAGS=-O2"}));
}

TEST(SplitSimpleCommandTest, AnythingTheShellInterpretsGoesToTheShell) {
  for (const char* c : {"echo hi", "exit 3", "cd x", "true", "a | b", "a && b", "a; b", "a > f",
                        "echo $HOME", "ls *.c", "FOO=1 make", "x 'quoted'", "x \"q\"", "a\nb",
                        "`date`", "x \\n", "(sub)", "a & b", "~/bin/x", "x #comment", "",
                        "   ", "test -f x", "[ -f x ]", "if", "{x}"}) {
    EXPECT_FALSE(SplitSimpleCommand(c).has_value()) << c;
  }
}

}  // namespace
}  // namespace porch
