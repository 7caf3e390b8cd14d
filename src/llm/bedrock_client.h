// LlmClient for Anthropic models on AWS Bedrock: InvokeModel and
// InvokeModelWithResponseStream (event-stream framing, CRC-checked), the body
// in Bedrock's Anthropic form (anthropic_version "bedrock-2023-05-31", no
// model or stream keys), requests signed with SigV4.
#pragma once

#include <random>

#include "aws/sigv4.h"
#include "llm/llm_client.h"
#include "llm/retry_loop.h"
#include "platform/clock.h"
#include "platform/http.h"

namespace porch {

struct BedrockOptions {
  std::string region = "eu-central-1";
  std::string model = "global.anthropic.claude-sonnet-4-5-20250929-v1:0";
  std::string endpoint;  // default https://bedrock-runtime.<region>.amazonaws.com
  AwsCredentials credentials;
  double timeout_s = 300;
  RetryBudget retry;
};

class BedrockClient : public LlmClient {
 public:
  BedrockClient(HttpClient* http, Clock* clock, BedrockOptions options);
  std::string name() const override { return "bedrock"; }
  std::string model() const override { return options_.model; }
  Result<LlmResponse> Complete(const LlmRequest& request) override;

  static nlohmann::json Body(const LlmRequest& request);
  std::string Endpoint() const;

 private:
  TryOutcome TryOnce(const LlmRequest& request);
  HttpClient* http_;
  Clock* clock_;
  BedrockOptions options_;
  std::mt19937_64 rng_;
};

}  // namespace porch
