#include "platform/file_lock.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "platform/clock.h"
#include "platform/files.h"
#include "platform/spawn.h"
#include "test_util.h"

namespace porch {
namespace {

TEST(FileLockTest, OneHolderAtATimeAndTheHolderIsNamed) {
  TempDir dir;
  const std::string path = dir.path() + "/run.lock";
  Result<std::unique_ptr<FileLock>> first = FileLock::Acquire(path);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  // flock locks belong to open file descriptions: a child process holding
  // its own description is refused while we hold ours.
  pid_t child = fork();
  if (child == 0) _exit(FileLock::Acquire(path).ok() ? 1 : 0);
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 0) << "a second holder got the lock";
  Result<std::unique_ptr<FileLock>> second = FileLock::Acquire(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(second.status().message().find("pid " + std::to_string(getpid())), std::string::npos)
      << second.status().message();
  first->reset();
  EXPECT_TRUE(FileLock::Acquire(path).ok());
}

TEST(FileLockTest, WaitingTakesTheLockOnceItIsFreeAndGivesUpAfterTheTimeout) {
  TempDir dir;
  const std::string path = dir.path() + "/engine.lock";
  int go[2];
  int release[2];
  ASSERT_EQ(pipe(go), 0);
  ASSERT_EQ(pipe(release), 0);
  pid_t child = fork();
  if (child == 0) {
    Result<std::unique_ptr<FileLock>> held = FileLock::Acquire(path);
    char c;
    if (!held.ok() || write(go[1], "x", 1) != 1) _exit(1);
    if (read(release[0], &c, 1) != 1) _exit(1);  // held until the parent has seen it taken
    usleep(300 * 1000);  // then a while longer, so the parent waits, and end (the lock ends with the process)
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(go[0], &c, 1), 1);  // the child holds it now
  EXPECT_EQ(FileLock::AcquireWaiting(path, 0.05).status().code(), Status::Code::kUnavailable);
  ASSERT_EQ(write(release[1], "x", 1), 1);
  const double start = MonotonicSeconds();
  Result<std::unique_ptr<FileLock>> got = FileLock::AcquireWaiting(path, 30, /*shared=*/true);
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_LT(MonotonicSeconds() - start, 10);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  waitpid(child, nullptr, 0);
  for (int fd : {go[0], go[1], release[0], release[1]}) close(fd);
}

TEST(EnvironmentFromTest, OverridesAndDropsOnACopyOfTheBase) {
  std::map<std::string, std::string> base = {{"PATH", "/bin"}, {"ANTHROPIC_API_KEY", "sk"}, {"A", "1"}};
  std::vector<std::string> env = EnvironmentFrom(base, {{"A", "2"}, {"B", "3"}}, {"ANTHROPIC_API_KEY"});
  EXPECT_EQ(env, (std::vector<std::string>{"A=2", "B=3", "PATH=/bin"}));
}

}  // namespace
}  // namespace porch
