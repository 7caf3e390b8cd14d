#include "platform/files.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

namespace porch {
namespace {

TEST(ReservedFileTest, CommitReplacesTheReservationWithTheData) {
  TempDir dir;
  const std::string path = dir.path() + "/result.json";
  Result<ReservedFile> slot = ReservedFile::Reserve(path, 16 * 1024);
  ASSERT_TRUE(slot.ok()) << slot.status().ToString();
  struct stat st {};
  ASSERT_EQ(stat((path + ".reserve").c_str(), &st), 0);
  EXPECT_GE(st.st_blocks * 512, 16 * 1024) << "the room is allocated, not a sparse hole";
  EXPECT_FALSE(PathExists(path));
  ASSERT_TRUE(slot->Commit("{\"ok\": true}\n").ok());
  EXPECT_EQ(*ReadFile(path), "{\"ok\": true}\n");
  EXPECT_FALSE(PathExists(path + ".reserve"));
  EXPECT_FALSE(slot->Commit("again").ok());
}

TEST(ReservedFileTest, AnUncommittedReservationIsRemoved) {
  TempDir dir;
  const std::string path = dir.path() + "/result.json";
  {
    Result<ReservedFile> slot = ReservedFile::Reserve(path, 4096);
    ASSERT_TRUE(slot.ok());
    ReservedFile moved = std::move(*slot);  // ownership moves with it
    EXPECT_TRUE(PathExists(path + ".reserve"));
  }
  EXPECT_FALSE(PathExists(path + ".reserve"));
  EXPECT_FALSE(PathExists(path));
}

TEST(ReservedFileTest, NoRoomIsAnErrorNamingThePath) {
  Result<ReservedFile> slot = ReservedFile::Reserve("/nonexistent/dir/result.json", 4096);
  ASSERT_FALSE(slot.ok());
  EXPECT_NE(slot.status().message().find("/nonexistent/dir/result.json.reserve"), std::string::npos);
}

TEST(ReadUserFileTest, RefusesWhatIsNotARegularFileAndWhatIsTooLarge) {
  TempDir dir;
  EXPECT_NE(ReadUserFile("/dev/zero", 100, "plan").status().message().find("not a regular file"),
            std::string::npos);
  EXPECT_NE(ReadUserFile(dir.path(), 100, "plan").status().message().find("not a regular file"),
            std::string::npos);
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/big", std::string(200, 'x')).ok());
  Result<std::string> big = ReadUserFile(dir.path() + "/big", 100, "plan", "raise limits.x");
  ASSERT_FALSE(big.ok());
  EXPECT_NE(big.status().message().find("raise limits.x"), std::string::npos);
  Result<std::string> fits = ReadUserFile(dir.path() + "/big", 200, "plan");
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(fits->size(), 200u);
}

TEST(StreamFileTest, TailFindsTheLastLinesFromTheEnd) {
  TempDir dir;
  std::string text;
  for (int i = 1; i <= 100000; ++i) text += std::to_string(i) + "\n";
  ASSERT_TRUE(WriteFileAtomic(dir.path() + "/log", text).ok());
  for (int64_t tail : {int64_t{0}, int64_t{1}, int64_t{3}, int64_t{200000}}) {
    const std::string out = dir.path() + "/out" + std::to_string(tail);
    int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(StreamFile(dir.path() + "/log", fd, tail).ok());
    close(fd);
    std::string got = *ReadFile(out);
    if (tail == 0 || tail >= 100000) {
      EXPECT_EQ(got, text) << tail;
    } else if (tail == 1) {
      EXPECT_EQ(got, "100000\n");
    } else {
      EXPECT_EQ(got, "99998\n99999\n100000\n");
    }
  }
}

}  // namespace
}  // namespace porch
