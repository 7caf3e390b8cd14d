// The tree helpers while porch writes into the tree (a merge into output/
// while another attempt seeds its workspace from it).
#include "platform/tree.h"

#include <gtest/gtest.h>

#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

TEST(TreeTest, PorchsOwnTempFilesAreNotPartOfATree) {
  TempDir tmp;
  const std::string out = tmp.path() + "/output";
  ASSERT_TRUE(MakeDirs(out + "/sub").ok());
  ASSERT_TRUE(WriteFileAtomic(out + "/c.txt", "c").ok());
  ASSERT_TRUE(WriteFileAtomic(out + "/.c.txt.porch-3708", "being merged").ok());  // WriteFileBeneath's temp
  ASSERT_TRUE(WriteFileAtomic(out + "/sub/.x.porch-12", "x").ok());
  ASSERT_TRUE(WriteFileAtomic(out + "/.env.porch-old", "a user's file").ok());   // not a pid: kept
  Result<std::map<std::string, FileDigest>> seeded = SeedWorkspace(out, tmp.path() + "/ws");
  ASSERT_TRUE(seeded.ok()) << seeded.status().message();
  std::vector<std::string> names;
  for (const auto& [rel, d] : *seeded) names.push_back(rel);
  EXPECT_EQ(names, (std::vector<std::string>{".env.porch-old", "c.txt"}));
  EXPECT_FALSE(PathExists(tmp.path() + "/ws/.c.txt.porch-3708"));
  EXPECT_EQ(*ReadFile(tmp.path() + "/ws/c.txt"), "c");
}

}  // namespace
}  // namespace porch
