// RunAttempts: a run directory loaded once, and what it decides for every
// attempt (here: merge.isolate_commands' "auto").
#include "exec/run_attempts.h"

#include <gtest/gtest.h>

#include "plan/plan_parser.h"
#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

class RunAttemptsTest : public ::testing::Test {
 protected:
  // A run of `tasks` (a command task "cmd", plus an AI task "ai" when
  // `with_agent`), with merge.isolate_commands = `setting` ("" : default).
  std::unique_ptr<RunAttempts> Load(bool with_agent, const std::string& setting) {
    const std::string dir = tmp_.path() + "/" + UniqueName("run");
    EXPECT_TRUE(MakeDirs(dir + "/output").ok());
    std::string yaml = "tasks:\n  - {id: cmd, command: 'echo hi > a.txt'}\n";
    if (with_agent) yaml += "  - {id: ai, prompt: 'Write b.txt', outputs: [b.txt]}\n";
    Result<Plan> plan = ParsePlan(yaml, "plan.yaml");
    EXPECT_TRUE(plan.ok()) << plan.status().message();
    EXPECT_TRUE(WriteFileAtomic(dir + "/plan.json", PlanToJsonText(*plan)).ok());
    if (!setting.empty()) {
      EXPECT_TRUE(WriteFileAtomic(dir + "/config.json", "{\"merge\": {\"isolate_commands\": \"" + setting + "\"}}").ok());
    }
    Result<std::unique_ptr<RunAttempts>> run = RunAttempts::Load(dir, {{"ANTHROPIC_API_KEY", "sk-test"}});
    EXPECT_TRUE(run.ok()) << run.status().message();
    return run.ok() ? std::move(*run) : nullptr;
  }
  bool CommandIsolated(RunAttempts* run) {
    Result<AttemptSpec> spec = run->Prepare("cmd", 1, 0, 1);
    EXPECT_TRUE(spec.ok()) << spec.status().message();
    return spec.ok() && !spec->workspace.empty();
  }
  TempDir tmp_;
};

// By default a command is isolated exactly when the plan has AI tasks,
// whose merged files it must not overwrite unseen; a plan of commands only
// keeps make's speed.
TEST_F(RunAttemptsTest, CommandsAreIsolatedByDefaultOnlyBesideAiTasks) {
  auto mixed = Load(true, "");
  ASSERT_TRUE(mixed);
  EXPECT_TRUE(CommandIsolated(mixed.get()));
  auto commands = Load(false, "");
  ASSERT_TRUE(commands);
  EXPECT_FALSE(CommandIsolated(commands.get()));
  auto forced_on = Load(false, "true");
  ASSERT_TRUE(forced_on);
  EXPECT_TRUE(CommandIsolated(forced_on.get()));
  auto forced_off = Load(true, "false");
  ASSERT_TRUE(forced_off);
  EXPECT_FALSE(CommandIsolated(forced_off.get()));
}

// A run directory whose config.json holds the boolean older builds wrote.
TEST_F(RunAttemptsTest, AnOlderRunsBooleanSettingStillReads) {
  const std::string dir = tmp_.path() + "/old";
  ASSERT_TRUE(MakeDirs(dir + "/output").ok());
  Result<Plan> plan = ParsePlan("tasks:\n  - {id: cmd, command: 'true'}\n", "plan.yaml");
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/plan.json", PlanToJsonText(*plan)).ok());
  ASSERT_TRUE(WriteFileAtomic(dir + "/config.json", "{\"merge\": {\"isolate_commands\": true}}").ok());
  Result<std::unique_ptr<RunAttempts>> run = RunAttempts::Load(dir, {});
  ASSERT_TRUE(run.ok()) << run.status().message();
  Result<AttemptSpec> spec = (*run)->Prepare("cmd", 1, 0, 1);
  ASSERT_TRUE(spec.ok());
  EXPECT_FALSE(spec->workspace.empty());
}

}  // namespace
}  // namespace porch
