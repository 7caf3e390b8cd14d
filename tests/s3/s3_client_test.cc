// porch's S3 client against the two S3-protocol servers scripts/s3-up.sh
// starts on 127.0.0.1 (one verifies SigV4 signatures, one is faithful on
// multipart), cross-checked with the aws CLI; plus unit tests on a recording
// HTTP client. The server tests skip, saying why, when a server is absent.
#include "s3/s3_client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <random>

#include "fakes/fake_clock.h"
#include "fakes/recording_http.h"
#include "integration/porch_process.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "platform/process.h"
#include "core/digest.h"
#include "s3/sync.h"
#include "test_util.h"

namespace porch {
namespace {

TEST(S3UnitTest, UrlsAndXml) {
  std::string b, p;
  EXPECT_TRUE(ParseS3Url("s3://bucket/runs/r1/", &b, &p));
  EXPECT_EQ(b, "bucket");
  EXPECT_EQ(p, "runs/r1/");
  EXPECT_TRUE(ParseS3Url("s3://bucket", &b, &p));
  EXPECT_EQ(p, "");
  EXPECT_FALSE(ParseS3Url("/local/dir", &b, &p));
  std::string xml = "<R><Contents><Key>a&amp;b &lt;1&gt;</Key></Contents><Contents><Key>c</Key>"
                    "</Contents><IsTruncated>false</IsTruncated></R>";
  EXPECT_EQ(XmlElements(xml, "Key"), (std::vector<std::string>{"a&b <1>", "c"}));
  EXPECT_EQ(XmlElement(xml, "IsTruncated"), "false");
  EXPECT_EQ(XmlElement(xml, "Missing"), "");
}

TEST(S3UnitTest, SlowDownAndServerErrorsAreRetriedOthersAreNot) {
  RecordingHttpClient http;
  FakeClock clock;
  S3Options o;
  o.endpoint = "http://127.0.0.1:1";
  o.credentials = {"AKID", "secret", "", "test"};
  o.retry_base_s = 1;
  S3Client s3(&http, &clock, o);
  http.answers.push_back(RecordingHttpClient::Answer(503, "<Error><Code>SlowDown</Code></Error>"));
  http.answers.push_back(Status::Unavailable("connection refused"));
  http.answers.push_back(RecordingHttpClient::Answer(200, "hello"));
  double t0 = clock.Now();
  Result<std::string> got = s3.GetData("b", "k");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, "hello");
  EXPECT_EQ(s3.retries(), 2);
  EXPECT_DOUBLE_EQ(clock.Now() - t0, 1 + 2);
  // Path-style, signed, with the payload hash S3 requires.
  const HttpRequest& req = http.requests.back();
  EXPECT_EQ(req.url, "http://127.0.0.1:1/b/k");
  bool signed_ok = false, sha = false;
  for (const auto& [k, v] : req.headers) {
    signed_ok |= k == "authorization" && v.rfind("AWS4-HMAC-SHA256 Credential=AKID/", 0) == 0;
    sha |= k == "x-amz-content-sha256";
  }
  EXPECT_TRUE(signed_ok);
  EXPECT_TRUE(sha);

  http.answers.push_back(RecordingHttpClient::Answer(
      403, "<Error><Code>InvalidAccessKeyId</Code><Message>nope</Message></Error>"));
  Result<std::string> denied = s3.GetData("b", "k");
  ASSERT_FALSE(denied.ok());
  EXPECT_NE(denied.status().message().find("access denied to bucket 'b'"), std::string::npos);
  EXPECT_NE(denied.status().message().find("came from test"), std::string::npos);
  EXPECT_EQ(s3.retries(), 2);  // not retried
}

TEST(S3UnitTest, QueryParametersAreSortedAndEncoded) {
  RecordingHttpClient http;
  FakeClock clock;
  S3Options o;
  o.endpoint = "http://h:9";
  o.credentials = {"AKID", "secret", "", "test"};
  S3Client s3(&http, &clock, o);
  http.answers.push_back(RecordingHttpClient::Answer(200, "<ListBucketResult></ListBucketResult>"));
  ASSERT_TRUE(s3.List("b", "runs/a b").ok());
  EXPECT_EQ(http.requests[0].url, "http://h:9/b?list-type=2&max-keys=1000&prefix=runs%2Fa%20b");
}

struct Server {
  const char* env;
  const char* name;
  bool checks_signatures;
};

class S3ServerTest : public ::testing::TestWithParam<Server> {
 protected:
  void SetUp() override {
    const char* url = getenv(GetParam().env);
    endpoint_ = url && *url ? url : "";
    if (endpoint_.empty()) {
      PORCH_SKIP_OR_FAIL(GetParam().env << " is not set (start the servers with scripts/s3-up.sh)");
    }
    Result<ProcessResult> ping = RunProcess({"curl", "-s", "-o", "/dev/null", endpoint_ + "/"}, "/");
    if (!ping.ok() || ping->exit_code != 0) PORCH_SKIP_OR_FAIL("no S3 server answers at " << endpoint_);
    o_.endpoint = endpoint_;
    o_.region = "us-east-1";
    o_.credentials = {"S3RVER", "S3RVER", "", "the test"};
    o_.multipart_threshold = 6ull << 20;
    o_.part_size = 5ull << 20;
    o_.list_page_size = 2;
    s3_ = std::make_unique<S3Client>(&http_, &clock_, o_);
    bucket_ = "porch-" + std::string(GetParam().name) + "-" + std::to_string(getpid()) + "-" +
              std::to_string(++counter_);
    ASSERT_TRUE(s3_->CreateBucket(bucket_).ok());
  }
  std::string Random(size_t n) {
    std::mt19937_64 rng(n);
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  }
  std::vector<std::pair<std::string, std::string>> AwsEnv() {
    return {{"AWS_ACCESS_KEY_ID", "S3RVER"}, {"AWS_SECRET_ACCESS_KEY", "S3RVER"},
            {"AWS_DEFAULT_REGION", "us-east-1"}, {"AWS_EC2_METADATA_DISABLED", "true"}};
  }

  static inline int counter_ = 0;
  std::string endpoint_;
  S3Options o_;
  CurlHttpClient http_;
  RealClock clock_;
  std::unique_ptr<S3Client> s3_;
  std::string bucket_;
  TempDir tmp_;
};

TEST_P(S3ServerTest, PutGetHeadListWithPagesDelete) {
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(s3_->PutData(bucket_, "dir/f" + std::to_string(i) + " +x.txt", "body " + std::to_string(i)).ok());
  }
  ASSERT_TRUE(s3_->PutData(bucket_, "other/g", "").ok());
  Result<std::vector<ObjectInfo>> listed = s3_->List(bucket_, "dir/");
  ASSERT_TRUE(listed.ok()) << listed.status().message();
  ASSERT_EQ(listed->size(), 5u);  // three pages of two
  EXPECT_EQ((*listed)[4].key, "dir/f4 +x.txt");
  EXPECT_EQ((*listed)[4].size, 6u);
  EXPECT_GE(s3_->requests(), 3);
  Result<std::string> got = s3_->GetData(bucket_, "dir/f3 +x.txt");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, "body 3");
  Result<ObjectInfo> head = s3_->Head(bucket_, "dir/f3 +x.txt");
  ASSERT_TRUE(head.ok()) << head.status().message();
  EXPECT_EQ(head->size, 6u);
  EXPECT_EQ(head->sha256, Sha256Hex("body 3"));
  ASSERT_TRUE(s3_->GetFile(bucket_, "other/g", tmp_.path() + "/empty").ok());
  EXPECT_EQ(*ReadFile(tmp_.path() + "/empty"), "");
  ASSERT_TRUE(s3_->Delete(bucket_, "dir/f3 +x.txt").ok());
  Result<ObjectInfo> gone = s3_->Head(bucket_, "dir/f3 +x.txt");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), Status::Code::kNotFound);
  EXPECT_EQ(s3_->List(bucket_, "dir/")->size(), 4u);
}

TEST_P(S3ServerTest, MultipartUploadAndVerifiedDownload) {
  std::string big = Random((12ull << 20) + 12345);
  std::string src = tmp_.path() + "/big.bin";
  ASSERT_TRUE(WriteFileAtomic(src, big).ok());
  ASSERT_TRUE(s3_->PutFile(bucket_, "big.bin", src).ok());
  Result<ObjectInfo> head = s3_->Head(bucket_, "big.bin");
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(head->size, big.size());
  EXPECT_EQ(head->sha256, DigestFile(src)->sha256);
  if (std::string(GetParam().name) == "fauxqs") {
    EXPECT_NE(head->etag.find("-3"), std::string::npos) << head->etag;
  }
  std::string dst = tmp_.path() + "/down/big.bin";
  ASSERT_TRUE(s3_->GetFile(bucket_, "big.bin", dst).ok());
  EXPECT_TRUE(*ReadFile(dst) == big);
  EXPECT_FALSE(PathExists(dst + ".porch-part"));
}

TEST_P(S3ServerTest, SyncCopiesOnlyWhatChangedBothWays) {
  std::string src = tmp_.path() + "/src";
  ASSERT_TRUE(MakeDirs(src + "/sub").ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/a.txt", "a1").ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/sub/b.txt", "b1").ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/sub/big.bin", Random(7u << 20)).ok());
  SyncOptions o;
  Result<SyncStats> up = SyncUp(*s3_, src, bucket_, "runs/r1", o);
  ASSERT_TRUE(up.ok()) << up.status().message();
  EXPECT_EQ(up->copied, 3);
  up = SyncUp(*s3_, src, bucket_, "runs/r1", o);
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(up->copied, 0);
  EXPECT_EQ(up->unchanged, 3);  // the multipart one compared by its SHA-256 metadata
  ASSERT_TRUE(WriteFileAtomic(src + "/a.txt", "a2").ok());
  up = SyncUp(*s3_, src, bucket_, "runs/r1/", o);
  EXPECT_EQ(up->copied, 1);

  std::string dst = tmp_.path() + "/dst";
  ASSERT_TRUE(MakeDirs(dst).ok());
  ASSERT_TRUE(WriteFileAtomic(dst + "/stale.txt", "old").ok());
  o.delete_extra = true;
  Result<SyncStats> down = SyncDown(*s3_, bucket_, "runs/r1", dst, o);
  ASSERT_TRUE(down.ok()) << down.status().message();
  EXPECT_EQ(down->copied, 3);
  EXPECT_EQ(down->deleted, 1);
  EXPECT_EQ(*ReadFile(dst + "/a.txt"), "a2");
  EXPECT_EQ(*ReadFile(dst + "/sub/big.bin"), *ReadFile(src + "/sub/big.bin"));
  EXPECT_FALSE(PathExists(dst + "/stale.txt"));
  down = SyncDown(*s3_, bucket_, "runs/r1", dst, o);
  EXPECT_EQ(down->copied, 0);
  EXPECT_EQ(down->unchanged, 3);

  ASSERT_EQ(unlink((src + "/sub/b.txt").c_str()), 0);
  up = SyncUp(*s3_, src, bucket_, "runs/r1", o);
  EXPECT_EQ(up->deleted, 1);
  EXPECT_EQ(s3_->List(bucket_, "runs/r1/")->size(), 2u);
}

TEST_P(S3ServerTest, MissingBucketAndWrongSecretAreClearErrors) {
  Result<std::vector<ObjectInfo>> none = s3_->List("porch-no-such-bucket-" + std::to_string(getpid()), "");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("bucket 'porch-no-such-bucket-"), std::string::npos)
      << none.status().message();
  if (!GetParam().checks_signatures) return;
  S3Options bad = o_;
  bad.credentials.secret_access_key = "wrong";
  bad.credentials.source = "environment (AWS_ACCESS_KEY_ID)";
  S3Client wrong(&http_, &clock_, bad);
  Result<std::string> got = wrong.GetData(bucket_, "x");
  ASSERT_FALSE(got.ok());
  EXPECT_NE(got.status().message().find("access denied to bucket '" + bucket_ + "'"), std::string::npos)
      << got.status().message();
  EXPECT_NE(got.status().message().find("SignatureDoesNotMatch"), std::string::npos);
  EXPECT_NE(got.status().message().find("environment (AWS_ACCESS_KEY_ID)"), std::string::npos);
}

TEST_P(S3ServerTest, AwsCliReadsWhatPorchWroteAndViceVersa) {
  Result<ProcessResult> have = RunProcess({"aws", "--version"}, "/");
  if (!have.ok() || have->exit_code != 0) PORCH_SKIP_OR_FAIL("no aws CLI (apt-get install awscli)");
  std::string big = Random(9u << 20);
  std::string src = tmp_.path() + "/porch-wrote.bin";
  ASSERT_TRUE(WriteFileAtomic(src, big).ok());
  ASSERT_TRUE(s3_->PutFile(bucket_, "from-porch.bin", src).ok());
  std::string out = tmp_.path() + "/aws-read.bin";
  Result<ProcessResult> cp = RunProcess({"aws", "--endpoint-url", endpoint_, "s3", "cp",
                                         "s3://" + bucket_ + "/from-porch.bin", out}, tmp_.path(), AwsEnv());
  ASSERT_TRUE(cp.ok());
  ASSERT_EQ(cp->exit_code, 0) << cp->output;
  EXPECT_TRUE(*ReadFile(out) == big);
  ASSERT_TRUE(WriteFileAtomic(tmp_.path() + "/aws-wrote.txt", "written by aws\n").ok());
  cp = RunProcess({"aws", "--endpoint-url", endpoint_, "s3", "cp", tmp_.path() + "/aws-wrote.txt",
                   "s3://" + bucket_ + "/from-aws.txt"}, tmp_.path(), AwsEnv());
  ASSERT_TRUE(cp.ok());
  ASSERT_EQ(cp->exit_code, 0) << cp->output;
  Result<std::string> got = s3_->GetData(bucket_, "from-aws.txt");
  ASSERT_TRUE(got.ok()) << got.status().message();
  EXPECT_EQ(*got, "written by aws\n");
}

TEST_P(S3ServerTest, PorchS3CommandSyncsAndLists) {
  std::string src = tmp_.path() + "/results";
  ASSERT_TRUE(MakeDirs(src + "/logs").ok());
  ASSERT_TRUE(WriteFileAtomic(src + "/logs/task.log", "log line\n").ok());
  std::map<std::string, std::string> env = {{"AWS_ACCESS_KEY_ID", "S3RVER"},
                                            {"AWS_SECRET_ACCESS_KEY", "S3RVER"},
                                            {"AWS_REGION", "us-east-1"},
                                            {"PORCH_AWS_ENDPOINT", endpoint_}};
  std::string url = "s3://" + bucket_ + "/runs/r9";
  PorchRun up = RunPorch(tmp_.path(), {"s3", "sync", src, url, "--json"}, env);
  ASSERT_EQ(up.exit_code, 0) << up.out << up.err;
  EXPECT_NE(up.out.find("\"copied\":1"), std::string::npos) << up.out;
  PorchRun ls = RunPorch(tmp_.path(), {"s3", "ls", url + "/"}, env);
  ASSERT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("runs/r9/logs/task.log"), std::string::npos) << ls.out;
  PorchRun down = RunPorch(tmp_.path(), {"s3", "sync", url, tmp_.path() + "/back"}, env);
  ASSERT_EQ(down.exit_code, 0) << down.err;
  EXPECT_EQ(*ReadFile(tmp_.path() + "/back/logs/task.log"), "log line\n");
  PorchRun bad = RunPorch(tmp_.path(), {"s3", "sync", src, tmp_.path() + "/x"}, env);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("exactly one side must be s3://"), std::string::npos) << bad.err;
}

INSTANTIATE_TEST_SUITE_P(Servers, S3ServerTest,
                         ::testing::Values(Server{"PORCH_S3_SIGV4_ENDPOINT", "s3rver", true},
                                           Server{"PORCH_S3_FAUXQS_ENDPOINT", "fauxqs", false}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace porch
