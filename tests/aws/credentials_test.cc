#include "aws/credentials.h"

#include <gtest/gtest.h>

#include "fakes/recording_http.h"
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

TEST(InstanceMetadataTest, AsksWithATokenForTheRolesKeys) {
  RecordingHttpClient http;
  http.answers.push_back(RecordingHttpClient::Answer(200, "TOKEN123"));
  http.answers.push_back(RecordingHttpClient::Answer(200, "build-role\n"));
  http.answers.push_back(RecordingHttpClient::Answer(
      200, R"({"Code":"Success","AccessKeyId":"ASIAX","SecretAccessKey":"s","Token":"t",)"
           R"("Expiration":"2026-12-02T12:00:00Z"})"));
  std::map<std::string, std::string> env = {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1/"}};
  Result<AwsCredentials> c = ResolveAwsCredentials(env, "/nonexistent-home", &http);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->access_key_id, "ASIAX");
  EXPECT_EQ(c->secret_access_key, "s");
  EXPECT_EQ(c->session_token, "t");
  EXPECT_EQ(c->expiration, "2026-12-02T12:00:00Z");
  EXPECT_TRUE(c->from_instance_metadata);
  EXPECT_TRUE(static_cast<bool>(c->renew));
  EXPECT_NE(c->source.find("role 'build-role'"), std::string::npos) << c->source;
  ASSERT_EQ(http.requests.size(), 3u);
  EXPECT_EQ(http.requests[0].method, "PUT");
  EXPECT_EQ(http.requests[0].url, "http://127.0.0.1:1/latest/api/token");
  EXPECT_EQ(http.requests[0].headers[0].first, "X-aws-ec2-metadata-token-ttl-seconds");
  EXPECT_EQ(http.requests[2].url, "http://127.0.0.1:1/latest/meta-data/iam/security-credentials/build-role");
  for (size_t i = 1; i < 3; ++i) {
    ASSERT_EQ(http.requests[i].headers.size(), 1u);
    EXPECT_EQ(http.requests[i].headers[0].second, "TOKEN123");
    EXPECT_LE(http.requests[i].connect_timeout_s, 1);  // off EC2 it must not hang
  }
}

TEST(InstanceMetadataTest, FallsBackToVersionOneWhenTokensAreRefused) {
  RecordingHttpClient http;
  http.answers.push_back(RecordingHttpClient::Answer(405, ""));
  http.answers.push_back(RecordingHttpClient::Answer(200, "r"));
  http.answers.push_back(RecordingHttpClient::Answer(200, R"({"Code":"Success","AccessKeyId":"A","SecretAccessKey":"S"})"));
  Result<AwsCredentials> c = InstanceMetadataCredentials(http, {});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(http.requests[1].url, "http://169.254.169.254/latest/meta-data/iam/security-credentials/");
  EXPECT_TRUE(http.requests[1].headers.empty());
}

TEST(InstanceMetadataTest, EveryWayOfHavingNoneIsNotFoundWithItsReason) {
  {  // not on EC2: nothing answers
    RecordingHttpClient http;
    http.answers.push_back(Status::Unavailable("connection timed out"));
    Result<AwsCredentials> c = ResolveAwsCredentials({}, "/nonexistent-home", &http);
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.status().code(), Status::Code::kNotFound);
    EXPECT_NE(c.status().message().find("instance metadata service (no answer from http://169.254.169.254"),
              std::string::npos) << c.status().message();
  }
  {  // turned off: not even asked
    RecordingHttpClient http;
    Result<AwsCredentials> c = InstanceMetadataCredentials(http, {{"AWS_EC2_METADATA_DISABLED", "TRUE"}});
    EXPECT_FALSE(c.ok());
    EXPECT_TRUE(http.requests.empty());
  }
  {  // an instance without a role
    RecordingHttpClient http;
    http.answers.push_back(RecordingHttpClient::Answer(200, "T"));
    http.answers.push_back(RecordingHttpClient::Answer(404, ""));
    Result<AwsCredentials> c = InstanceMetadataCredentials(http, {});
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("no IAM role"), std::string::npos);
  }
  {  // keys the service says are not good
    RecordingHttpClient http;
    http.answers.push_back(RecordingHttpClient::Answer(200, "T"));
    http.answers.push_back(RecordingHttpClient::Answer(200, "r"));
    http.answers.push_back(RecordingHttpClient::Answer(200, R"({"Code":"Expired"})"));
    Result<AwsCredentials> c = InstanceMetadataCredentials(http, {});
    ASSERT_FALSE(c.ok());
    EXPECT_NE(c.status().message().find("'Expired'"), std::string::npos) << c.status().message();
  }
  {  // a role name that would change the path
    RecordingHttpClient http;
    http.answers.push_back(RecordingHttpClient::Answer(200, "T"));
    http.answers.push_back(RecordingHttpClient::Answer(200, "../../user-data"));
    EXPECT_FALSE(InstanceMetadataCredentials(http, {}).ok());
    EXPECT_EQ(http.requests.size(), 2u);
  }
}

TEST(InstanceMetadataTest, KeysAreRenewedOnlyWhenTheyAreAboutToEnd) {
  AwsCredentials c;
  c.access_key_id = "OLD";
  c.expiration = "2026-12-02T12:00:00Z";
  const double ends = 1796212800;  // 2026-12-02T12:00:00Z
  int asked = 0;
  c.renew = [&asked]() -> Result<AwsCredentials> {
    ++asked;
    AwsCredentials fresh;
    fresh.access_key_id = "NEW";
    fresh.expiration = "2026-12-02T18:00:00Z";
    return fresh;
  };
  RenewIfExpiring(&c, ends - 3600);
  EXPECT_EQ(c.access_key_id, "OLD");
  EXPECT_EQ(asked, 0);
  RenewIfExpiring(&c, ends - 120);
  EXPECT_EQ(c.access_key_id, "NEW");
  EXPECT_EQ(asked, 1);
  EXPECT_TRUE(static_cast<bool>(c.renew));  // and renews again later
  RenewIfExpiring(&c, ends);
  EXPECT_EQ(asked, 1);  // the new keys last until 18:00
  // A failed renewal keeps the keys there are, and is not tried again on
  // every request.
  int failed = 0;
  c.renew = [&failed]() -> Result<AwsCredentials> {
    ++failed;
    return Status::NotFound("gone");
  };
  c.expiration = "2026-12-02T12:00:00Z";
  RenewIfExpiring(&c, ends);
  EXPECT_EQ(c.access_key_id, "NEW");
  RenewIfExpiring(&c, ends + 10);
  EXPECT_EQ(failed, 1);
  RenewIfExpiring(&c, ends + 31);
  EXPECT_EQ(failed, 2);
}

}  // namespace
}  // namespace porch
