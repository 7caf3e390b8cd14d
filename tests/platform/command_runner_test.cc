#include "platform/command_runner.h"

#include <gtest/gtest.h>

#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

TEST(RealCommandRunnerTest, CapturesBothStreamsAndTheExitCode) {
  RealCommandRunner runner;
  Result<CommandOutput> r = runner.Run({"/bin/sh", "-c", "echo out; echo err >&2; exit 4"}, 30);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->out, "out\n");
  EXPECT_EQ(r->err, "err\n");
  EXPECT_EQ(r->exit_code, 4);
  EXPECT_FALSE(r->timed_out);
}

TEST(RealCommandRunnerTest, LargeOutputOnBothStreamsDoesNotDeadlock) {
  // More than a pipe buffer on each stream at once: the runner must drain
  // both while the program writes.
  RealCommandRunner runner;
  Result<CommandOutput> r = runner.Run(
      {"/bin/sh", "-c", "head -c 300000 /dev/zero | tr '\\0' o; head -c 300000 /dev/zero | tr '\\0' e >&2"},
      60);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out.size(), 300000u);
  EXPECT_EQ(r->err.size(), 300000u);
  EXPECT_EQ(r->exit_code, 0);
}

TEST(RealCommandRunnerTest, StdinIsEmpty) {
  RealCommandRunner runner;
  Result<CommandOutput> r = runner.Run({"/bin/sh", "-c", "cat; echo done"}, 30);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "done\n");
}

TEST(RealCommandRunnerTest, TimeoutKillsTheProgram) {
  RealCommandRunner runner;
  Result<CommandOutput> r = runner.Run({"sleep", "30"}, 0.2);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->timed_out);
  EXPECT_EQ(r->exit_code, 128 + SIGKILL);
}

TEST(RealCommandRunnerTest, MissingProgramIsAnErrorAndEmptyArgvIsRefused) {
  RealCommandRunner runner;
  Result<CommandOutput> missing = runner.Run({"porch-no-such-program-xyz"}, 5);
  // Either refused at spawn, or run by posix_spawnp's child as exit 127.
  if (missing.ok()) {
    EXPECT_EQ(missing->exit_code, 127);
  } else {
    EXPECT_NE(missing.status().message().find("porch-no-such-program-xyz"), std::string::npos)
        << missing.status().ToString();
  }
  EXPECT_EQ(runner.Run({}, 5).status().code(), Status::Code::kInvalidArgument);
}

TEST(RealCommandRunnerTest, FindsProgramsOnPath) {
  RealCommandRunner runner;
  Result<CommandOutput> r = runner.Run({"printf", "%s-%s", "a b", "c"}, 5);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->out, "a b-c");  // arguments pass through unsplit, unquoted
}

}  // namespace
}  // namespace porch
