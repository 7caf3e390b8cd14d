#include "backend/slurm/job_script.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>

#include "platform/files.h"
#include "platform/process.h"
#include "test_util.h"

namespace porch {
namespace {

// Compares with tests/backend/slurm/golden/<name>; PORCH_UPDATE_GOLDEN=1
// rewrites the file instead (review the diff before committing).
void ExpectGolden(const std::string& name, const std::string& text) {
  std::string path = std::string(PORCH_SOURCE_DIR) + "/tests/backend/slurm/golden/" + name;
  if (std::getenv("PORCH_UPDATE_GOLDEN")) {
    ASSERT_TRUE(WriteFileAtomic(path, text).ok());
    return;
  }
  Result<std::string> want = ReadFile(path);
  ASSERT_TRUE(want.ok()) << path << " is missing; run with PORCH_UPDATE_GOLDEN=1";
  EXPECT_EQ(text, *want) << "golden file " << path;
}

JobScriptSpec Plain() {
  JobScriptSpec s;
  s.job_name = "porch-20261124-000000-ab12-build-1";
  s.time_limit_s = 125;
  s.memory_bytes = 4ull << 30;
  s.cpus = 2;
  s.output = "/shared/runs/r1/tasks/build/attempt-1/slurm.out";
  s.error = "/shared/runs/r1/tasks/build/attempt-1/slurm.err";
  s.comment = "porch run r1";
  s.run_dir = "/shared/runs/r1";
  s.porch_path = "/opt/porch/bin/porch";
  s.elements = {{"build", 1, 60}};
  return s;
}

TEST(JobScriptTest, PlainJob) { ExpectGolden("plain.sh", GenerateJobScript(Plain())); }

TEST(JobScriptTest, GpuJobWithDependenciesAndExtraArgs) {
  JobScriptSpec s = Plain();
  s.partition = "gpu";
  s.gpus = 2;
  s.after_ok = {"101", "102_3"};
  s.extra_args = SplitSbatchArgs("--account=proj42 --qos=high --constraint='a100&ib' --exclusive");
  s.memory_bytes = 1536ull << 20;
  ExpectGolden("gpu_deps_extra.sh", GenerateJobScript(s));
}

TEST(JobScriptTest, ArrayOfThreeWithThrottle) {
  JobScriptSpec s = Plain();
  s.job_name = "porch-r1-a-1-array3";
  s.output = "/shared/runs/r1/slurm/porch-r1-a-1-array3-%a.out";
  s.error = s.output;
  s.array_throttle = 5;
  s.elements = {{"a", 1, 60}, {"b", 2, 120}, {"c", 1, 60}};
  ExpectGolden("array.sh", GenerateJobScript(s));
}

TEST(JobScriptTest, OddTaskIdsAreQuoted) {
  JobScriptSpec s = Plain();
  s.job_name = SlurmJobName("r1", "it's a $(task) \"x\"", 1);
  s.elements = {{"it's a $(task) \"x\"", 1, 0}, {"semi;colon `tick`", 3, 0}};
  s.output = "/shared/run dir/slurm/x-%a.out";
  s.error = s.output;
  s.run_dir = "/shared/run dir";
  ExpectGolden("odd_ids.sh", GenerateJobScript(s));
}

TEST(JobScriptTest, NamesAndArgSplitting) {
  EXPECT_EQ(SlurmJobName("r1", "build", 2), "porch-r1-build-2");
  EXPECT_EQ(SlurmJobName("r1", "a b/c$", 1), "porch-r1-a_b_c_-167b4f94-1");
  // Task ids that sanitise alike still get different names.
  EXPECT_NE(SlurmJobName("u", "x y", 1), SlurmJobName("u", "x_y", 1));
  EXPECT_EQ(SlurmJobComment("u"), "porch-run-u");
  EXPECT_LE(SlurmJobName("r", std::string(300, 'x'), 1).size(), 200u);
  EXPECT_EQ(SplitSbatchArgs("  --account=a  --comment='two words' \"--qos=x y\" "),
            (std::vector<std::string>{"--account=a", "--comment=two words", "--qos=x y"}));
  EXPECT_TRUE(SplitSbatchArgs("").empty());
  EXPECT_EQ(ShellQuote("it's"), "'it'\\''s'");
}

// The scripts run: bash executes the body with a stand-in porch that
// prints its arguments, so quoting is proven, not just compared.
TEST(JobScriptTest, ScriptsRunAndPassTaskIdsIntact) {
  TempDir tmp;
  std::string run = tmp.path() + "/run dir";
  ASSERT_TRUE(MakeDirs(run).ok());
  std::string fake = tmp.path() + "/porch";
  ASSERT_TRUE(WriteFileAtomic(fake, "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\"; done\n"
                                    "echo\n").ok());
  chmod(fake.c_str(), 0755);
  JobScriptSpec s = Plain();
  s.run_dir = run;
  s.porch_path = fake;
  s.elements = {{"it's a $(task) \"x\"", 1, 30}, {"semi;colon `tick`", 3, 0}};
  std::string script = tmp.path() + "/job.sh";
  ASSERT_TRUE(WriteFileAtomic(script, GenerateJobScript(s)).ok());

  Result<ProcessResult> r = RunProcess({"bash", script}, tmp.path(), {{"SLURM_ARRAY_TASK_ID", "1"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 0) << r->output;
  // Array output goes to the attempt's own directory.
  Result<std::string> out = ReadFile(run + "/tasks/semi;colon `tick`/attempt-3/slurm.out");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "[exec-task][--run-dir][" + run +
                      "][--task-id][semi;colon `tick`][--attempt][3][--time-limit][0][--grace][5]\n");

  r = RunProcess({"bash", script}, tmp.path(), {{"SLURM_ARRAY_TASK_ID", "7"}});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 91);
  EXPECT_NE(r->output.find("array element '7' is not in this script"), std::string::npos);

  s.elements = {{"it's a $(task) \"x\"", 1, 30}};
  ASSERT_TRUE(WriteFileAtomic(script, GenerateJobScript(s)).ok());
  r = RunProcess({"bash", script}, tmp.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->output, "[exec-task][--run-dir][" + run +
                           "][--task-id][it's a $(task) \"x\"][--attempt][1][--time-limit][30]"
                           "[--grace][5]\n");

  s.run_dir = tmp.path() + "/missing";
  ASSERT_TRUE(WriteFileAtomic(script, GenerateJobScript(s)).ok());
  r = RunProcess({"bash", script}, tmp.path());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->exit_code, 90);
  EXPECT_NE(r->output.find("cannot enter the run directory"), std::string::npos);
}

}  // namespace
}  // namespace porch
