#include "backend/slurm/slurm_state.h"

#include <gtest/gtest.h>

#include "platform/files.h"

namespace porch {
namespace {

std::string Captured(const std::string& name) {
  Result<std::string> text =
      ReadFile(std::string(PORCH_SOURCE_DIR) + "/tests/backend/slurm/captured/" + name);
  EXPECT_TRUE(text.ok()) << name;
  return text.ok() ? *text : "";
}

TEST(SlurmStateTest, EveryLongNameAndCodeParses) {
  const std::pair<const char*, const char*> names[] = {
      {"PENDING", "PD"},     {"CONFIGURING", "CF"},   {"RUNNING", "R"},
      {"COMPLETING", "CG"},  {"SUSPENDED", "S"},      {"STOPPED", "ST"},
      {"REQUEUED", "RQ"},    {"REQUEUE_HOLD", "RH"},  {"REQUEUE_FED", "RF"},
      {"RESIZING", "RS"},    {"SIGNALING", "SI"},     {"STAGE_OUT", "SO"},
      {"RESV_DEL_HOLD", "RD"}, {"COMPLETED", "CD"},   {"FAILED", "F"},
      {"CANCELLED", "CA"},   {"TIMEOUT", "TO"},       {"OUT_OF_MEMORY", "OOM"},
      {"NODE_FAIL", "NF"},   {"PREEMPTED", "PR"},     {"BOOT_FAIL", "BF"},
      {"DEADLINE", "DL"},    {"REVOKED", "RV"},       {"SPECIAL_EXIT", "SE"},
  };
  for (const auto& [name, code] : names) {
    SlurmState s = ParseSlurmState(name);
    EXPECT_NE(s, SlurmState::kUnknown) << name;
    EXPECT_EQ(ParseSlurmState(code), s) << code;
    EXPECT_STREQ(SlurmStateName(s), name);
  }
  EXPECT_EQ(ParseSlurmState("CANCELLED by 1000"), SlurmState::kCancelled);
  EXPECT_EQ(ParseSlurmState(" RUNNING \r"), SlurmState::kRunning);
  EXPECT_EQ(ParseSlurmState("COMPLETED+"), SlurmState::kCompleted);
  EXPECT_EQ(ParseSlurmState("WEIRD_NEW_STATE"), SlurmState::kUnknown);
  EXPECT_EQ(ParseSlurmState(""), SlurmState::kUnknown);
}

TEST(SlurmStateTest, TerminalAndStartedSets) {
  for (SlurmState s : {SlurmState::kPending, SlurmState::kConfiguring, SlurmState::kRunning,
                       SlurmState::kCompleting, SlurmState::kSuspended, SlurmState::kRequeued,
                       SlurmState::kRequeueHold, SlurmState::kResizing, SlurmState::kUnknown}) {
    EXPECT_FALSE(IsTerminal(s)) << SlurmStateName(s);
  }
  for (SlurmState s : {SlurmState::kCompleted, SlurmState::kFailed, SlurmState::kCancelled,
                       SlurmState::kTimeout, SlurmState::kOutOfMemory, SlurmState::kNodeFail,
                       SlurmState::kPreempted, SlurmState::kBootFail, SlurmState::kDeadline}) {
    EXPECT_TRUE(IsTerminal(s)) << SlurmStateName(s);
  }
  EXPECT_FALSE(HasStarted(SlurmState::kPending));
  EXPECT_FALSE(HasStarted(SlurmState::kConfiguring));
  EXPECT_FALSE(HasStarted(SlurmState::kBootFail));
  EXPECT_TRUE(HasStarted(SlurmState::kRunning));
  EXPECT_TRUE(HasStarted(SlurmState::kCompleting));
  EXPECT_TRUE(HasStarted(SlurmState::kTimeout));
}

TEST(SlurmStateTest, VerdictsMapToFailureReasons) {
  EXPECT_EQ(VerdictFromState(SlurmState::kTimeout, 0, false).reason, FailureReason::kTimeout);
  EXPECT_EQ(VerdictFromState(SlurmState::kDeadline, 0, false).reason, FailureReason::kTimeout);
  EXPECT_EQ(VerdictFromState(SlurmState::kOutOfMemory, 0, false).reason, FailureReason::kOom);
  EXPECT_EQ(VerdictFromState(SlurmState::kNodeFail, 0, false).reason, FailureReason::kLost);
  EXPECT_EQ(VerdictFromState(SlurmState::kPreempted, 0, false).reason, FailureReason::kLost);
  EXPECT_EQ(VerdictFromState(SlurmState::kBootFail, 0, false).reason, FailureReason::kLost);
  EXPECT_EQ(VerdictFromState(SlurmState::kRevoked, 0, false).reason, FailureReason::kLost);
  EXPECT_EQ(VerdictFromState(SlurmState::kSpecialExit, 3, false).reason,
            FailureReason::kExitCode);
  SlurmVerdict failed = VerdictFromState(SlurmState::kFailed, 127, false);
  EXPECT_EQ(failed.reason, FailureReason::kBackendError);
  EXPECT_NE(failed.detail.find("exit 127"), std::string::npos);
  EXPECT_NE(failed.detail.find("slurm.porch_path"), std::string::npos);
  EXPECT_EQ(VerdictFromState(SlurmState::kCompleted, 0, false).reason,
            FailureReason::kBackendError);
  SlurmVerdict ours = VerdictFromState(SlurmState::kCancelled, 0, true);
  SlurmVerdict theirs = VerdictFromState(SlurmState::kCancelled, 0, false);
  EXPECT_EQ(ours.reason, FailureReason::kCancelled);
  EXPECT_EQ(theirs.reason, FailureReason::kCancelled);
  EXPECT_NE(theirs.detail.find("outside porch"), std::string::npos);
}

TEST(SlurmStateTest, ParsesCapturedSqueue) {
  int bad = 0;
  std::vector<SlurmJob> jobs = ParseSqueue(Captured("squeue_all.txt"), &bad);
  EXPECT_EQ(bad, 0);
  ASSERT_EQ(jobs.size(), 13u);
  EXPECT_EQ(jobs[0].id, "8");
  EXPECT_EQ(jobs[0].name, "porch-r1-dep");
  EXPECT_EQ(jobs[0].state, SlurmState::kCancelled);
  EXPECT_EQ(jobs[0].reason, "DependencyNeverSatisfied");
  EXPECT_EQ(jobs[3].state, SlurmState::kFailed);
  EXPECT_EQ(jobs[5].id, "7_2");
  EXPECT_EQ(jobs[5].state, SlurmState::kPending);
  EXPECT_EQ(jobs[5].reason, "JobArrayTaskLimit");
  EXPECT_EQ(jobs[12].id, "7_1");
  EXPECT_EQ(jobs[12].state, SlurmState::kRunning);
}

TEST(SlurmStateTest, ParsesEveryStateInSqueueFormat) {
  std::vector<SlurmJob> jobs = ParseSqueue(Captured("squeue_every_state.txt"));
  ASSERT_EQ(jobs.size(), 24u);
  for (const SlurmJob& j : jobs) EXPECT_NE(j.state, SlurmState::kUnknown) << j.state_text;
}

TEST(SlurmStateTest, OddNamesAndBadLines) {
  int bad = 0;
  std::vector<SlurmJob> jobs =
      ParseSqueue("5|name|with|bars|RUNNING|None\ngarbage\n|x|RUNNING|None\n\n", &bad);
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0].name, "name|with|bars");
  EXPECT_EQ(jobs[0].state, SlurmState::kRunning);
  EXPECT_EQ(bad, 2);
}

TEST(SlurmStateTest, ParsesSacct) {
  std::vector<SlurmJob> jobs = ParseSacct(Captured("sacct_states.txt"));
  ASSERT_EQ(jobs.size(), 7u);
  EXPECT_EQ(jobs[0].exit_code, 0);
  EXPECT_EQ(jobs[1].exit_code, 3);
  EXPECT_EQ(jobs[2].id, "202_0");
  EXPECT_EQ(jobs[2].state, SlurmState::kCancelled);
  EXPECT_EQ(jobs[2].exit_code, 128 + 15);
  EXPECT_EQ(jobs[3].state, SlurmState::kOutOfMemory);
  EXPECT_EQ(jobs[5].state, SlurmState::kNodeFail);
}

TEST(SlurmStateTest, ParsesCapturedScontrol) {
  std::optional<SlurmJob> failed = ParseScontrolJob(Captured("scontrol_failed.txt"));
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->id, "3");
  EXPECT_EQ(failed->name, "porch-r1-fail");
  EXPECT_EQ(failed->state, SlurmState::kFailed);
  EXPECT_EQ(failed->reason, "NonZeroExitCode");
  EXPECT_EQ(failed->exit_code, 3);
  std::optional<SlurmJob> element = ParseScontrolJob(Captured("scontrol_array.txt"));
  ASSERT_TRUE(element);
  EXPECT_EQ(element->id, "20_1");
  EXPECT_EQ(element->state, SlurmState::kPending);
  EXPECT_FALSE(ParseScontrolJob(Captured("scontrol_invalid.txt")));
}

TEST(SlurmStateTest, SbatchExitCodesAndErrors) {
  EXPECT_EQ(*ParseSbatchParsable("123\n"), "123");
  EXPECT_EQ(*ParseSbatchParsable("sbatch: warning: x\n77;cluster1\n"), "77");
  EXPECT_FALSE(ParseSbatchParsable("Submitted batch job\n").ok());
  EXPECT_EQ(ParseSlurmExitCode("0:0"), 0);
  EXPECT_EQ(ParseSlurmExitCode("3:0"), 3);
  EXPECT_EQ(ParseSlurmExitCode("0:9"), 137);
  EXPECT_EQ(ParseSlurmExitCode(""), -1);
  EXPECT_TRUE(IsTransientSlurmError(
      "squeue: error: slurm_load_jobs error: Socket timed out on send/recv operation"));
  EXPECT_TRUE(IsTransientSlurmError("sbatch: error: Batch job submission failed: Unable to "
                                    "contact slurm controller (connect failure)"));
  EXPECT_FALSE(IsTransientSlurmError(Captured("sbatch_bad_partition.txt")));
  EXPECT_TRUE(IsAccountingDisabled(Captured("sacct_disabled.txt")));
}

}  // namespace
}  // namespace porch
