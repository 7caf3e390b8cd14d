#include "platform/command_pool.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <map>

#include "platform/clock.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

// Whether `pid` is a process that still runs (not gone, not a zombie).
bool Runs(pid_t pid) {
  Result<std::string> stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  if (!stat.ok()) return false;
  size_t close = stat->rfind(')');
  return close != std::string::npos && close + 2 < stat->size() && (*stat)[close + 2] != 'Z';
}

// The pool driven as the spawner drives it: SIGCHLD through a signalfd,
// poll, Service.
class CommandPoolTest : public ::testing::Test {
 protected:
  CommandPoolTest() {
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old_mask_);
    sigfd_ = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  ~CommandPoolTest() override {
    pool_.CancelAll();
    RunUntil(SIZE_MAX, 5);  // nothing outlives the test
    close(sigfd_);
    sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
  }

  SpawnSpec Shell(const std::string& name, const std::string& script,
                  const std::vector<std::pair<std::string, std::string>>& env = {}) {
    SpawnSpec s;
    s.argv = {"/bin/sh", "-c", script};
    s.env = EnvironmentWith(env);
    s.workdir = dir_.path();
    s.stdout_path = dir_.path() + "/" + name + "/stdout";
    s.stderr_path = dir_.path() + "/" + name + "/stderr";
    s.grace_s = 0.3;
    s.lazy_output = true;
    return s;
  }

  pid_t Start(SpawnSpec spec, uint64_t token, std::vector<std::string> marker = {}) {
    pid_t pid = 0;
    EXPECT_EQ(pool_.Start(std::move(spec), token, std::move(marker), &pid), 0);
    return pid;
  }

  // Drives the loop until `n` outcomes came (or the pool is empty, or
  // `seconds` passed); they are added to done_ by token.
  void RunUntil(size_t n, double seconds) {
    const double until = MonotonicSeconds() + seconds;
    size_t got = 0;
    while (got < n && pool_.running() > 0 && MonotonicSeconds() < until) {
      std::vector<pollfd> fds = {{sigfd_, POLLIN, 0}};
      pool_.PollFds(&fds);
      int timeout = pool_.TimeoutMs(MonotonicSeconds());
      poll(fds.data(), fds.size(), timeout < 0 || timeout > 100 ? 100 : timeout);
      signalfd_siginfo info;
      while (read(sigfd_, &info, sizeof info) > 0) {
      }
      for (const auto& [pid, status] : pool_.Service(fds, MonotonicSeconds())) kept_ended_[pid] = status;
      for (const CommandPool::Outcome& o : pool_.Finished()) {
        done_[o.token] = o.outcome;
        ++got;
      }
    }
  }

  // Waits (up to 10 s) for `path` to hold a pid.
  pid_t PidIn(const std::string& path) {
    for (int i = 0; i < 1000; ++i) {
      Result<std::string> text = ReadFile(path);
      if (text.ok() && !text->empty() && text->back() == '\n') return std::atoi(text->c_str());
      usleep(10 * 1000);
    }
    return 0;
  }

  TempDir dir_;
  CommandPool pool_;
  sigset_t old_mask_;
  int sigfd_ = -1;
  std::map<uint64_t, SpawnOutcome> done_;
  std::map<pid_t, int> kept_ended_;
};

TEST_F(CommandPoolTest, EachCommandGetsItsOwnOutcomeAndOnlyWhatItPrintedIsKept) {
  Start(Shell("silent", "true"), 1);
  Start(Shell("loud", "echo out; echo err >&2; exit 3"), 2);
  Start(Shell("killed", "kill -9 $$"), 3);
  RunUntil(3, 20);
  ASSERT_EQ(done_.size(), 3u);
  EXPECT_EQ(done_[1].exit_code, 0);
  EXPECT_FALSE(PathExists(dir_.path() + "/silent")) << "a silent command leaves no file";
  EXPECT_EQ(done_[2].exit_code, 3);
  EXPECT_EQ(*ReadFile(dir_.path() + "/loud/stdout"), "out\n");
  EXPECT_EQ(*ReadFile(dir_.path() + "/loud/stderr"), "err\n");
  EXPECT_EQ(done_[3].term_signal, SIGKILL);
  EXPECT_EQ(pool_.running(), 0u);
}

TEST_F(CommandPoolTest, ACommandThatCannotStartSaysWhy) {
  SpawnSpec missing = Shell("missing", "");
  missing.argv = {"porch-no-such-program"};
  pid_t pid = 0;
  EXPECT_EQ(pool_.Start(missing, 1, {}, &pid), ENOENT);
  SpawnSpec nowhere = Shell("nowhere", "true");
  nowhere.workdir = dir_.path() + "/absent";
  EXPECT_EQ(pool_.Start(nowhere, 2, {}, &pid), ENOTDIR);
  EXPECT_EQ(pool_.running(), 0u);
  EXPECT_EQ(NotStarted(ENOENT).exit_code, 127);
  EXPECT_EQ(NotStarted(EACCES).exit_code, 126);
}

// The time limit: SIGTERM to the group, SIGKILL after the grace for a
// command that ignores it (and its child, which inherited that).
TEST_F(CommandPoolTest, ATimeLimitEndsTheWholeGroupAfterItsGrace) {
  SpawnSpec s = Shell("slow", "trap '' TERM; sleep 30 & echo $! > slow.pid; wait");
  s.time_limit_s = 0.3;
  const double start = MonotonicSeconds();
  Start(s, 1);
  pid_t child = PidIn(dir_.path() + "/slow.pid");
  ASSERT_GT(child, 0);
  RunUntil(1, 20);
  ASSERT_EQ(done_.count(1), 1u);
  EXPECT_TRUE(done_[1].timed_out);
  EXPECT_EQ(done_[1].term_signal, SIGKILL);
  EXPECT_LT(MonotonicSeconds() - start, 10);
  EXPECT_FALSE(Runs(child)) << "the command's child outlived it";
}

TEST_F(CommandPoolTest, ACancelEndsThatCommandAndNoOther) {
  pid_t first = Start(Shell("first", "sleep 30"), 1);
  Start(Shell("second", "sleep 0.5; echo done"), 2);
  EXPECT_TRUE(pool_.Cancel(first));
  RunUntil(2, 20);
  ASSERT_EQ(done_.size(), 2u);
  EXPECT_TRUE(done_[1].cancelled);
  EXPECT_FALSE(done_[2].cancelled);
  EXPECT_EQ(done_[2].exit_code, 0);
  EXPECT_EQ(*ReadFile(dir_.path() + "/second/stdout"), "done\n");
  EXPECT_FALSE(pool_.Cancel(first)) << "it has ended";
}

// What a command starts in a session of its own ends with it; a daemon a
// running command started (its environment says whose) is left alone until
// that command ends.
TEST_F(CommandPoolTest, WhatAnEndedCommandLeftIsKilledButNotADaemonOfARunningOne) {
  // b's daemon is orphaned at once (its parent, an inner shell, exits) and
  // so becomes the pool's child while b still runs (until b.go appears).
  Start(Shell("b", "sh -c 'setsid sleep 300 & echo $! > b.pid'; while [ ! -f b.go ]; do sleep 0.01; done",
              {{"TAG", "b"}}),
        2, {"TAG=b"});
  pid_t daemon = PidIn(dir_.path() + "/b.pid");
  ASSERT_GT(daemon, 0);
  Start(Shell("a", "setsid sleep 300 & echo $! > a.pid", {{"TAG", "a"}}), 1, {"TAG=a"});
  pid_t escaped = PidIn(dir_.path() + "/a.pid");
  ASSERT_GT(escaped, 0);
  RunUntil(1, 20);
  ASSERT_EQ(done_.count(1), 1u) << "a ends first";
  EXPECT_FALSE(Runs(escaped)) << "a's escaped child outlived a";
  EXPECT_TRUE(Runs(daemon)) << "b's daemon was killed while b ran";
  ASSERT_TRUE(WriteFileFast(dir_.path() + "/b.go", "").ok());
  RunUntil(1, 20);
  ASSERT_EQ(done_.count(2), 1u);
  EXPECT_FALSE(Runs(daemon)) << "b's daemon outlived b";
}

// A child of the caller's (a supervisor) lives through the sweep that
// follows a command's end, and its status comes back.
TEST_F(CommandPoolTest, ChildrenOfTheCallersOwnComeBackWithTheirStatus) {
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t own = fork();
  if (own == 0) {
    close(go[1]);
    char c;
    _exit(read(go[0], &c, 1) == 1 ? 7 : 8);
  }
  close(go[0]);
  pool_.KeepChild(own);
  Start(Shell("short", "true"), 1);
  RunUntil(1, 20);
  ASSERT_EQ(done_.count(1), 1u);
  EXPECT_TRUE(Runs(own)) << "the caller's child was taken for an orphan";
  ASSERT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  Start(Shell("long", "sleep 0.5"), 2);  // keeps the loop going
  RunUntil(1, 20);
  ASSERT_EQ(kept_ended_.count(own), 1u);
  EXPECT_TRUE(WIFEXITED(kept_ended_[own]));
  EXPECT_EQ(WEXITSTATUS(kept_ended_[own]), 7);
}

TEST_F(CommandPoolTest, OutputPastTheCapIsCutAndSaysSo) {
  SpawnSpec s = Shell("flood", "yes porch | head -c 300000");
  s.max_output_bytes = 1000;
  Start(s, 1);
  RunUntil(1, 20);
  ASSERT_EQ(done_.count(1), 1u);
  EXPECT_TRUE(done_[1].output_cut);
  std::string out = *ReadFile(dir_.path() + "/flood/stdout");
  EXPECT_LT(out.size(), 1200u);
  EXPECT_NE(out.find("limits.max_output_bytes"), std::string::npos);
}

}  // namespace
}  // namespace porch
