#include "backend/verdict.h"

#include <gtest/gtest.h>

#include <csignal>

namespace porch {
namespace {

AttemptResult Result_(FailureReason reason, int signal = 0, std::string detail = "d") {
  AttemptResult r;
  r.reason = reason;
  r.term_signal = signal;
  r.exit_code = signal ? 128 + signal : reason == FailureReason::kNone ? 0 : 1;
  r.detail = std::move(detail);
  r.started_at = 10;
  r.finished_at = 12;
  r.cost_usd = 0.5;
  r.usage.output_tokens = 7;
  return r;
}

Result<AttemptResult> None() { return Status::NotFound("no result file"); }

TEST(ResolveEndingTest, TheResultFileIsTheAuthority) {
  BackendEvent ev = ResolveEnding(3, 2, 99, Result_(FailureReason::kExitCode), {});
  EXPECT_EQ(ev.kind, BackendEvent::Kind::kFinished);
  EXPECT_EQ(ev.index, 3u);
  EXPECT_EQ(ev.attempt, 2);
  EXPECT_EQ(ev.reason, FailureReason::kExitCode);
  EXPECT_EQ(ev.time, 12);  // when the attempt ended, not when porch looked
  EXPECT_EQ(ev.started_at, 10);
  EXPECT_EQ(ev.cost_usd, 0.5);
  EXPECT_EQ(ev.tokens, 7);
  EXPECT_EQ(ResolveEnding(0, 1, 99, Result_(FailureReason::kNone), {}).reason, FailureReason::kNone);
}

TEST(ResolveEndingTest, WhatPorchCausedByCancellingIsACancellation) {
  Ending e;
  e.cancel_requested = true;
  BackendEvent ev = ResolveEnding(0, 1, 99, Result_(FailureReason::kSignal, SIGTERM, "killed"), e);
  EXPECT_EQ(ev.reason, FailureReason::kCancelled);
  EXPECT_NE(ev.detail.find("the attempt saw: killed"), std::string::npos);
  // A success that won the race stays a success.
  EXPECT_EQ(ResolveEnding(0, 1, 99, Result_(FailureReason::kNone), e).reason, FailureReason::kNone);
  // No result at all: cancelled too.
  EXPECT_EQ(ResolveEnding(0, 1, 99, None(), e).reason, FailureReason::kCancelled);
}

TEST(ResolveEndingTest, ACancellationPorchDidNotAskForIsWhatTheBackendSays) {
  Ending e;
  e.backend_says = BackendVerdict{FailureReason::kTimeout, "SLURM stopped the job (TIMEOUT)"};
  BackendEvent ev = ResolveEnding(0, 1, 99, Result_(FailureReason::kCancelled, 0, "SIGTERM"), e);
  EXPECT_EQ(ev.reason, FailureReason::kTimeout);
  EXPECT_EQ(ev.detail, "SLURM stopped the job (TIMEOUT); the attempt said: SIGTERM");
  // Without a result file the backend's word is all there is.
  ev = ResolveEnding(0, 1, 99, None(), e);
  EXPECT_EQ(ev.reason, FailureReason::kTimeout);
  EXPECT_EQ(ev.time, 99);
  // A real outcome in the result file is not overridden.
  EXPECT_EQ(ResolveEnding(0, 1, 99, Result_(FailureReason::kExitCode), e).reason,
            FailureReason::kExitCode);
  // The task's own process died of that SIGTERM before the runner noticed it
  // (a failed node sends it to the whole job): still the backend's word.
  Ending node;
  node.backend_says = BackendVerdict{FailureReason::kLost, "the node failed (NODE_FAIL)"};
  ev = ResolveEnding(0, 1, 99, Result_(FailureReason::kSignal, SIGTERM, "killed by signal Terminated"), node);
  EXPECT_EQ(ev.reason, FailureReason::kLost);
  // Another signal nobody explains stays a signal.
  EXPECT_EQ(ResolveEnding(0, 1, 99, Result_(FailureReason::kSignal, SIGSEGV, "segfault"), node).reason,
            FailureReason::kSignal);
}

TEST(ResolveEndingTest, MemoryKillsAreOom) {
  Ending oom;
  oom.oom_killed = true;
  EXPECT_EQ(ResolveEnding(0, 1, 99, Result_(FailureReason::kSignal, SIGKILL), oom).reason,
            FailureReason::kOom);
  EXPECT_EQ(ResolveEnding(0, 1, 99, None(), oom).reason, FailureReason::kOom);
  // A SIGKILL nobody sent, under a memory limit: the kernel's OOM killer.
  Ending limited;
  limited.memory_limited = true;
  EXPECT_EQ(ResolveEnding(0, 1, 99, Result_(FailureReason::kSignal, SIGKILL), limited).reason,
            FailureReason::kOom);
  EXPECT_EQ(ResolveEnding(0, 1, 99, Result_(FailureReason::kSignal, SIGSEGV), limited).reason,
            FailureReason::kSignal);
  EXPECT_EQ(ResolveEnding(0, 1, 99, Result_(FailureReason::kSignal, SIGKILL), {}).reason,
            FailureReason::kSignal);
  // Porch's own cancel beats a memory limit.
  limited.cancel_requested = true;
  EXPECT_EQ(ResolveEnding(0, 1, 99, Result_(FailureReason::kSignal, SIGKILL), limited).reason,
            FailureReason::kCancelled);
}

TEST(ResolveEndingTest, NoResultAndNothingKnownIsABackendErrorThatSaysWhatHappened) {
  Ending e;
  e.without_result = "the container exited 3 without a result file";
  e.exit_code = 3;
  BackendEvent ev = ResolveEnding(0, 1, 99, None(), e);
  EXPECT_EQ(ev.reason, FailureReason::kBackendError);
  EXPECT_EQ(ev.detail, "the container exited 3 without a result file");
  EXPECT_EQ(ev.exit_code, 3);
  // An unreadable (not missing) result says why.
  ev = ResolveEnding(0, 1, 99, Status::InvalidArgument("not a porch result"), e);
  EXPECT_NE(ev.detail.find(": not a porch result"), std::string::npos);
}

}  // namespace
}  // namespace porch
