#include "aws/credentials.h"

#include <gtest/gtest.h>

#include "platform/files.h"
#include "test_util.h"

namespace porch {
namespace {

TEST(CredentialsTest, EnvironmentComesFirst) {
  Result<AwsCredentials> c = ResolveAwsCredentials(
      {{"AWS_ACCESS_KEY_ID", "AKENV"}, {"AWS_SECRET_ACCESS_KEY", "s"}, {"AWS_SESSION_TOKEN", "t"}},
      "/nonexistent");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "AKENV");
  EXPECT_EQ(c->session_token, "t");
  EXPECT_EQ(c->source, "environment (AWS_ACCESS_KEY_ID)");
}

TEST(CredentialsTest, ProfilesFromTheSharedFiles) {
  TempDir home;
  EXPECT_TRUE(MakeDirs(home.path() + "/.aws").ok());
  EXPECT_TRUE(WriteFileAtomic(home.path() + "/.aws/credentials",
                  "[default]\naws_access_key_id = AKDEF\naws_secret_access_key = sdef\n\n"
                  "[work]\naws_access_key_id=AKWORK\naws_secret_access_key=swork\naws_session_token=tw\n").ok());
  EXPECT_TRUE(WriteFileAtomic(home.path() + "/.aws/config",
                  "[profile cfg]\naws_access_key_id = AKCFG\naws_secret_access_key = scfg\nregion = eu-west-1\n").ok());
  Result<AwsCredentials> d = ResolveAwsCredentials({}, home.path());
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  EXPECT_EQ(d->access_key_id, "AKDEF");
  Result<AwsCredentials> w = ResolveAwsCredentials({{"AWS_PROFILE", "work"}}, home.path());
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->access_key_id, "AKWORK");
  EXPECT_EQ(w->session_token, "tw");
  EXPECT_NE(w->source.find("profile 'work'"), std::string::npos);
  Result<AwsCredentials> c = ResolveAwsCredentials({{"AWS_PROFILE", "cfg"}}, home.path());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->access_key_id, "AKCFG");
  // Only half the keys in the environment: fall through to the files.
  Result<AwsCredentials> half = ResolveAwsCredentials({{"AWS_ACCESS_KEY_ID", "AKX"}}, home.path());
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->access_key_id, "AKDEF");
}

TEST(CredentialsTest, MissingSaysWhereItLooked) {
  Result<AwsCredentials> c = ResolveAwsCredentials({{"AWS_PROFILE", "nope"}}, "/nonexistent-home");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), Status::Code::kNotFound);
  const std::string& m = c.status().message();
  EXPECT_NE(m.find("AWS_ACCESS_KEY_ID"), std::string::npos);
  EXPECT_NE(m.find("profile 'nope'"), std::string::npos);
  EXPECT_NE(m.find("/nonexistent-home/.aws/credentials"), std::string::npos);
  EXPECT_NE(m.find("/nonexistent-home/.aws/config"), std::string::npos);
}

}  // namespace
}  // namespace porch
