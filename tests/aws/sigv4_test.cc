#include "aws/sigv4.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "platform/files.h"

namespace porch {
namespace {

using nlohmann::json;

TEST(SigV4Test, AwsTestSuite) {
  Result<std::string> text = ReadFile(std::string(PORCH_SOURCE_DIR) +
                                      "/tests/data/sigv4/aws-sig-v4-test-suite.json");
  ASSERT_TRUE(text.ok()) << text.status().ToString();
  json suite = json::parse(*text);
  AwsCredentials creds{suite["config"]["accessKeyId"], suite["config"]["secretAccessKey"], "", "test"};
  int checked = 0;
  std::vector<std::string> inconsistent;
  for (const json& c : suite["tests"]["all"]) {
    SCOPED_TRACE(c["name"].get<std::string>());
    const json& r = c["request"];
    SigV4Input in;
    in.method = r["method"];
    in.path = r["path"];
    in.query = r["query"];
    std::string date;
    for (const json& h : r["headers"]) {
      in.headers.emplace_back(h[0], h[1]);
      if (h[0] == "X-Amz-Date") date = h[1];
    }
    in.payload_sha256_hex = Sha256Hex(r["body"].get<std::string>());
    SigV4Output out = SignV4(in, creds, suite["config"]["region"], suite["config"]["service"], date);
    EXPECT_EQ(out.canonical_request, c["creq"].get<std::string>());
    ++checked;
    // Two vectors of the suite are inconsistent: their string to sign is not
    // built from their own canonical request (the original files signed the
    // request without Content-Length). For those, the canonical request is
    // checked above and the rest is skipped, by name.
    const std::string& sts = c["sts"];
    if (sts.substr(sts.size() - 64) != Sha256Hex(c["creq"].get<std::string>())) {
      inconsistent.push_back(c["name"]);
      continue;
    }
    EXPECT_EQ(out.string_to_sign, sts);
    EXPECT_EQ(out.authorization, c["authz"].get<std::string>());
  }
  EXPECT_EQ(checked, 28);
  EXPECT_EQ(inconsistent, (std::vector<std::string>{"post-x-www-form-urlencoded",
                                                    "post-x-www-form-urlencoded-parameters"}));
}

TEST(SigV4Test, Helpers) {
  EXPECT_EQ(Sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(UriEncode("a b/c:d~", true), "a%20b/c%3Ad~");
  EXPECT_EQ(UriEncode("a/b", false), "a%2Fb");
  EXPECT_EQ(AmzDate(1440938160), "20150830T123600Z");
}

}  // namespace
}  // namespace porch
