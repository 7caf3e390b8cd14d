// Provider errors never carry porch's credentials: an endpoint that echoes
// the request (headers included) in its error text gets them redacted.
#include <gtest/gtest.h>

#include "fakes/fake_clock.h"
#include "fakes/recording_http.h"
#include "llm/anthropic_client.h"
#include "llm/bedrock_client.h"

namespace porch {
namespace {

LlmRequest Hello() {
  LlmRequest r;
  r.messages = nlohmann::json::array({{{"role", "user"}, {"content", "hi"}}});
  r.stream = false;
  return r;
}

TEST(RedactionTest, AnthropicErrorsNeverShowTheApiKey) {
  RecordingHttpClient http;
  FakeClock clock;
  http.answers.push_back(RecordingHttpClient::Answer(
      400, R"({"type":"error","error":{"type":"invalid_request_error","message":"bad key sk-ant-SECRET-123 in x-api-key: sk-ant-SECRET-123"}})"));
  AnthropicOptions o;
  o.api_key = "sk-ant-SECRET-123";
  o.retry.max_attempts = 1;
  AnthropicClient client(&http, &clock, o);
  Result<LlmResponse> r = client.Complete(Hello());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("sk-ant-SECRET-123"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("bad key"), std::string::npos) << r.status().message();
}

TEST(RedactionTest, BedrockErrorsNeverShowTheSecretKeyOrToken) {
  RecordingHttpClient http;
  FakeClock clock;
  http.answers.push_back(RecordingHttpClient::Answer(
      403, R"({"message":"signature mismatch for secret wJalrSECRETKEY and token SESSIONTOKEN99"})"));
  BedrockOptions o;
  o.endpoint = "http://127.0.0.1:1";
  o.credentials.access_key_id = "AKIDEXAMPLE";
  o.credentials.secret_access_key = "wJalrSECRETKEY";
  o.credentials.session_token = "SESSIONTOKEN99";
  o.retry.max_attempts = 1;
  BedrockClient client(&http, &clock, o);
  Result<LlmResponse> r = client.Complete(Hello());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message().find("wJalrSECRETKEY"), std::string::npos) << r.status().message();
  EXPECT_EQ(r.status().message().find("SESSIONTOKEN99"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("signature mismatch"), std::string::npos) << r.status().message();
}

}  // namespace
}  // namespace porch
