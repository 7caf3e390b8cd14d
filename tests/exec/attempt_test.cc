#include "exec/attempt.h"
#include "exec/command_line.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "model/result_file.h"
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

// The local backend's way: results appended to one log, output files (and
// their directory) only for what the command printed.
class LazyAttemptTest : public AttemptTest {
 protected:
  AttemptSpec Lazy(const std::string& command, const std::string& task = "t") {
    AttemptSpec s = Spec(command);
    s.task_id = task;
    s.stdout_path = dir_.path() + "/a-" + task + "/stdout";
    s.stderr_path = dir_.path() + "/a-" + task + "/stderr";
    s.result_path = dir_.path() + "/a-" + task + "/result.json";
    s.lazy_output = true;
    s.result_log_fd = log_fd_;
    return s;
  }
  void SetUp() override {
    log_ = dir_.path() + "/results.log";
    log_fd_ = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    ASSERT_GE(log_fd_, 0);
  }
  void TearDown() override { close(log_fd_); }
  std::string log_;
  int log_fd_ = -1;
};

TEST_F(LazyAttemptTest, ASilentCommandLeavesNoFileOnlyItsRecord) {
  EXPECT_EQ(RunChild(Lazy("touch made.txt")), kExecOk);
  EXPECT_TRUE(PathExists(dir_.path() + "/made.txt"));
  EXPECT_FALSE(PathExists(dir_.path() + "/a-t"));  // no directory, no stdout, no result.json
  ResultLog log(log_);
  log.Refresh();
  ASSERT_NE(log.Find("t", 1), nullptr);
  EXPECT_TRUE(log.Find("t", 1)->ok());
}

TEST_F(LazyAttemptTest, WhatACommandPrintsIsKeptAndItsLeftoversDoNotHoldItUp) {
  // The background job keeps the pipes open long after the command ends.
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(RunChild(Lazy("echo out; echo err >&2; (sleep 30; echo late) & exit 3", "p")), kExecTaskFailed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  EXPECT_EQ(*ReadFile(dir_.path() + "/a-p/stdout"), "out\n");
  EXPECT_EQ(*ReadFile(dir_.path() + "/a-p/stderr"), "err\n");
  EXPECT_FALSE(PathExists(dir_.path() + "/a-p/result.json"));
  ResultLog log(log_);
  log.Refresh();
  ASSERT_NE(log.Find("p", 1), nullptr);
  EXPECT_EQ(log.Find("p", 1)->exit_code, 3);
}

// A command that writes without pause cannot keep the relay from seeing
// its time limit; its output stops at the cap.
TEST_F(LazyAttemptTest, AFloodOfOutputStillMeetsTheTimeLimitAndTheCap) {
  AttemptSpec spec = Lazy("yes", "flood");
  spec.time_limit_s = 1;
  spec.max_output_bytes = 1 << 20;
  EXPECT_EQ(RunChild(spec), kExecTaskFailed);
  ResultLog log(log_);
  log.Refresh();
  ASSERT_NE(log.Find("flood", 1), nullptr);
  EXPECT_EQ(log.Find("flood", 1)->reason, FailureReason::kTimeout);
  struct stat st {};
  ASSERT_EQ(stat((dir_.path() + "/a-flood/stdout").c_str(), &st), 0);
  EXPECT_LE(st.st_size, (1 << 20) + 200);
  EXPECT_NE(ReadFile(dir_.path() + "/a-flood/stdout")->find("limits.max_output_bytes"), std::string::npos);
}

TEST_F(LazyAttemptTest, LargeOutputIsRelayedWhole) {
  EXPECT_EQ(RunChild(Lazy("seq 1 200000", "big")), kExecOk);
  porch::Result<std::string> out = ReadFile(dir_.path() + "/a-big/stdout");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(std::count(out->begin(), out->end(), '\n'), 200000);
  EXPECT_EQ(out->substr(out->size() - 7), "200000\n");
}

TEST_F(LazyAttemptTest, ATornRecordIsSkippedAndTheNextIsRead) {
  // A record cut short (the disk filled), then whole records after it, and a
  // record still being written.
  ASSERT_TRUE(AppendRecord(log_fd_, "\n{\"task\":\"x\",\"att", log_).ok());
  EXPECT_EQ(RunChild(Lazy("true", "after")), kExecOk);
  ResultLog log(log_);
  log.Refresh();
  EXPECT_EQ(log.Find("x", 1), nullptr);
  ASSERT_NE(log.Find("after", 1), nullptr);
  AttemptResult r;
  r.task_id = "late";
  r.attempt = 1;
  const std::string record = ResultLogRecord(r);
  ASSERT_TRUE(AppendRecord(log_fd_, record.substr(0, record.size() / 2), log_).ok());
  log.Refresh();  // half a record: not yet
  EXPECT_EQ(log.Find("late", 1), nullptr);
  ASSERT_TRUE(AppendRecord(log_fd_, record.substr(record.size() / 2), log_).ok());
  log.Refresh();
  EXPECT_NE(log.Find("late", 1), nullptr);
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
