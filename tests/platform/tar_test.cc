#include "platform/tar.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "platform/files.h"
#include "platform/process.h"
#include "test_util.h"

namespace porch {
namespace {

TEST(TarTest, GnuTarReadsWhatWeWrite) {
  TempDir tmp;
  std::string src = tmp.path() + "/src";
  std::string deep = src + "/" + std::string(60, 'd') + "/" + std::string(60, 'e');
  ASSERT_TRUE(MakeDirs(deep).ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/Dockerfile", "FROM scratch\n").ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/run.sh", "#!/bin/sh\necho hi\n").ok());
  chmod((src + "/run.sh").c_str(), 0755);
  ASSERT_TRUE(WriteFileAtomic(deep + "/" + std::string(70, 'f'), std::string(1000, 'x')).ok());
  ASSERT_EQ(symlink("run.sh", (src + "/link").c_str()), 0);
  Result<std::string> tar = TarDirectory(src);
  ASSERT_TRUE(tar.ok()) << tar.status().message();
  EXPECT_EQ(tar->size() % 512, 0u);
  EXPECT_EQ(*TarDirectory(src), *tar);  // deterministic
  ASSERT_TRUE(WriteFileAtomic(tmp.path() + "/ctx.tar", *tar).ok());
  std::string out = tmp.path() + "/out";
  ASSERT_TRUE(MakeDirs(out).ok());
  Result<ProcessResult> x = RunProcess({"tar", "-xf", tmp.path() + "/ctx.tar", "-C", out}, tmp.path());
  ASSERT_TRUE(x.ok());
  ASSERT_EQ(x->exit_code, 0) << x->output;
  EXPECT_EQ(*ReadFile(out + "/Dockerfile"), "FROM scratch\n");
  EXPECT_EQ(*ReadFile(out + "/link"), "#!/bin/sh\necho hi\n");
  struct stat st;
  ASSERT_EQ(stat((out + "/run.sh").c_str(), &st), 0);
  EXPECT_TRUE(st.st_mode & S_IXUSR);
  std::string long_rel = std::string(60, 'd') + "/" + std::string(60, 'e') + "/" + std::string(70, 'f');
  EXPECT_EQ(*ReadFile(out + "/" + long_rel), std::string(1000, 'x'));
}

TEST(TarTest, MissingDirectoryAndTooLongPathsAreErrors) {
  TempDir tmp;
  EXPECT_FALSE(TarDirectory(tmp.path() + "/missing").ok());
  std::string name(120, 'n');
  ASSERT_TRUE(WriteFileAtomic(tmp.path() + "/" + name, "x").ok());
  Result<std::string> tar = TarDirectory(tmp.path());
  ASSERT_FALSE(tar.ok());
  EXPECT_NE(tar.status().message().find("too long"), std::string::npos);
}

}  // namespace
}  // namespace porch
