#include "backend/slurm/slurm_client.h"

#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "fakes/fake_command_runner.h"

namespace porch {
namespace {

constexpr const char* kTimedOut =
    "squeue: error: slurm_load_jobs error: Socket timed out on send/recv operation";

class SlurmClientUnitTest : public ::testing::Test {
 protected:
  SlurmClientUnitTest() : client_(&runner_, &clock_, Options()) {}
  static SlurmClientOptions Options() {
    SlurmClientOptions o;
    o.max_attempts = 4;
    o.retry_base_s = 1;
    return o;
  }
  FakeCommandRunner runner_;
  FakeClock clock_;
  SlurmClient client_;
};

TEST_F(SlurmClientUnitTest, SubmitReturnsTheJobId) {
  runner_.Push("sbatch", FakeCommandRunner::Ok("4242\n"));
  Result<std::string> id = client_.Submit("/run/job.sh", "porch-r-a-1");
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(*id, "4242");
  ASSERT_EQ(runner_.calls.size(), 1u);
  EXPECT_EQ(runner_.calls[0], (std::vector<std::string>{"sbatch", "--parsable", "/run/job.sh"}));
  EXPECT_EQ(client_.calls().sbatch, 1);
}

TEST_F(SlurmClientUnitTest, SubmitThatTimedOutIsFoundInTheQueueNotSentTwice) {
  CommandOutput hung;
  hung.timed_out = true;
  hung.exit_code = 137;
  runner_.Push("sbatch", hung);
  runner_.Push("squeue", FakeCommandRunner::Ok("77|porch-r-a-1|PENDING|Priority\n"));
  Result<std::string> id = client_.Submit("/run/job.sh", "porch-r-a-1");
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(*id, "77");
  EXPECT_EQ(runner_.Count("sbatch"), 1);
  ASSERT_EQ(runner_.Count("squeue"), 1);
  EXPECT_EQ(runner_.CallsOf("squeue")[0][5], "--name=porch-r-a-1");
}

TEST_F(SlurmClientUnitTest, SubmitRetriesABusyControllerWithBackoff) {
  runner_.Push("sbatch", FakeCommandRunner::Fail(1, "sbatch: error: Batch job submission failed: "
                                                    "Socket timed out on send/recv operation"));
  runner_.Push("squeue", FakeCommandRunner::Ok(""));  // not queued
  runner_.Push("sbatch", FakeCommandRunner::Ok("78\n"));
  double t0 = clock_.Now();
  Result<std::string> id = client_.Submit("/run/job.sh", "porch-r-a-1");
  ASSERT_TRUE(id.ok()) << id.status().message();
  EXPECT_EQ(*id, "78");
  EXPECT_EQ(runner_.Count("sbatch"), 2);
  EXPECT_EQ(client_.calls().retries, 1);
  EXPECT_DOUBLE_EQ(clock_.Now() - t0, 1.0);
}

TEST_F(SlurmClientUnitTest, SubmitErrorsThatAreNotTransientFailAtOnce) {
  runner_.Push("sbatch", FakeCommandRunner::Fail(
                             1, "sbatch: error: Batch job submission failed: Invalid partition "
                                "name specified\n"));
  Result<std::string> id = client_.Submit("/run/job.sh", "n");
  ASSERT_FALSE(id.ok());
  EXPECT_NE(id.status().message().find("Invalid partition name"), std::string::npos);
  EXPECT_EQ(runner_.calls.size(), 1u);
}

TEST_F(SlurmClientUnitTest, QueueIsOneCallFilteredByTheExactComment) {
  runner_.Push("squeue", FakeCommandRunner::Ok("1|porch-u1-a-1|RUNNING|None|porch-run-u1\n"
                                               "2|other-job|RUNNING|None|\n"
                                               "3_0|porch-u1-b-1-array2|PENDING|Priority|porch-run-u1\n"
                                               "4|porch-u1-a-1|RUNNING|None|porch-run-u10\n"));
  Result<std::vector<SlurmJob>> jobs = client_.Queue("alice", "porch-run-u1");
  ASSERT_TRUE(jobs.ok());
  ASSERT_EQ(jobs->size(), 2u);
  EXPECT_EQ((*jobs)[0].id, "1");
  EXPECT_EQ((*jobs)[1].id, "3_0");
  ASSERT_EQ(runner_.calls.size(), 1u);
  const auto& argv = runner_.calls[0];
  EXPECT_NE(std::find(argv.begin(), argv.end(), "--user=alice"), argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), "-r"), argv.end());
  EXPECT_NE(std::find(argv.begin(), argv.end(), "all"), argv.end());
}

TEST_F(SlurmClientUnitTest, BusyControllerIsRetriedThenReportedUnavailable) {
  runner_.Push("squeue", FakeCommandRunner::Fail(1, kTimedOut));
  runner_.Push("squeue", FakeCommandRunner::Ok("1|porch-r-a-1|RUNNING|None|c\n"));
  Result<std::vector<SlurmJob>> jobs = client_.Queue("", "c");
  ASSERT_TRUE(jobs.ok());
  EXPECT_EQ(jobs->size(), 1u);
  EXPECT_EQ(runner_.Count("squeue"), 2);

  for (int k = 0; k < 4; ++k) runner_.Push("squeue", FakeCommandRunner::Fail(1, kTimedOut));
  double t0 = clock_.Now();
  Result<std::vector<SlurmJob>> down = client_.Queue("", "c");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(down.status().message().find("Socket timed out"), std::string::npos);
  EXPECT_DOUBLE_EQ(clock_.Now() - t0, 1 + 2 + 4);  // backoff doubles
}

TEST_F(SlurmClientUnitTest, MissingAccountingIsRememberedNotAskedAgain) {
  runner_.Push("sacct", FakeCommandRunner::Fail(1, "Slurm accounting storage is disabled\n"));
  Result<std::vector<SlurmJob>> a = client_.Accounting({"1", "2_3"});
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), Status::Code::kInfeasible);
  EXPECT_FALSE(client_.accounting_available());
  EXPECT_FALSE(client_.Accounting({"1"}).ok());
  EXPECT_EQ(runner_.Count("sacct"), 1);
  EXPECT_EQ(runner_.CallsOf("sacct")[0].back(), "1,2_3");
}

TEST_F(SlurmClientUnitTest, AccountingParsesStates) {
  runner_.Push("sacct", FakeCommandRunner::Ok("5|porch-r-a-1|OUT_OF_MEMORY|0:125\n"));
  Result<std::vector<SlurmJob>> a = client_.Accounting({"5"});
  ASSERT_TRUE(a.ok());
  ASSERT_EQ(a->size(), 1u);
  EXPECT_EQ((*a)[0].state, SlurmState::kOutOfMemory);
  EXPECT_TRUE(client_.accounting_available());
}

TEST_F(SlurmClientUnitTest, ShowUnknownJobIsNullopt) {
  runner_.Push("scontrol",
               FakeCommandRunner::Fail(1, "slurm_load_jobs error: Invalid job id specified\n"));
  Result<std::optional<SlurmJob>> j = client_.Show("999");
  ASSERT_TRUE(j.ok());
  EXPECT_FALSE(j->has_value());
}

TEST_F(SlurmClientUnitTest, CancelIsOneCallAndToleratesFinishedJobs) {
  runner_.Push("scancel", FakeCommandRunner::Fail(
                              1, "scancel: error: Kill job error on job id 5: Job/step already "
                                 "completing or completed\n"));
  EXPECT_TRUE(client_.Cancel({"5", "6_0", "6_1"}).ok());
  ASSERT_EQ(runner_.calls.size(), 1u);
  EXPECT_EQ(runner_.calls[0], (std::vector<std::string>{"scancel", "5", "6_0", "6_1"}));
  EXPECT_TRUE(client_.Cancel({}).ok());
  EXPECT_EQ(runner_.calls.size(), 1u);
}

TEST_F(SlurmClientUnitTest, PingNeedsAControllerUp) {
  runner_.Push("scontrol", FakeCommandRunner::Ok("Slurmctld(primary) at vm is UP\n"));
  EXPECT_TRUE(client_.Ping().ok());
  runner_.Push("scontrol", FakeCommandRunner::Fail(1, "scontrol: fatal: Could not establish a "
                                                      "configuration source\n"));
  Status down = client_.Ping();
  EXPECT_FALSE(down.ok());
  EXPECT_NE(down.message().find("configuration source"), std::string::npos);
}

TEST_F(SlurmClientUnitTest, BinDirPrefixesPrograms) {
  SlurmClientOptions o = Options();
  o.bin_dir = "/opt/slurm/bin";
  SlurmClient c(&runner_, &clock_, o);
  runner_.Push("scancel", FakeCommandRunner::Ok(""));
  EXPECT_TRUE(c.Cancel({"1"}).ok());
  EXPECT_EQ(runner_.calls[0][0], "/opt/slurm/bin/scancel");
}

}  // namespace
}  // namespace porch
