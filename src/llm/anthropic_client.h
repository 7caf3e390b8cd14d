// LlmClient for the Anthropic Messages API: POST <base_url>/v1/messages with
// x-api-key and anthropic-version, JSON or streamed (SSE) answers.
#pragma once

#include <random>

#include "llm/llm_client.h"
#include "llm/retry_loop.h"
#include "platform/clock.h"
#include "platform/http.h"

namespace porch {

struct AnthropicOptions {
  std::string base_url = "https://api.anthropic.com";
  std::string api_key;  // never logged
  std::string model = "claude-sonnet-4-5";
  double timeout_s = 300;
  RetryBudget retry;
};

class AnthropicClient : public LlmClient {
 public:
  // `http` and `clock` are not owned and must outlive the client.
  AnthropicClient(HttpClient* http, Clock* clock, AnthropicOptions options);
  std::string name() const override { return "anthropic"; }
  std::string model() const override { return options_.model; }
  Result<LlmResponse> Complete(const LlmRequest& request) override;

  // The request body as sent (exposed for tests).
  static nlohmann::json Body(const LlmRequest& request, const std::string& model);

 private:
  TryOutcome TryOnce(const LlmRequest& request);
  HttpClient* http_;
  Clock* clock_;
  AnthropicOptions options_;
  std::mt19937_64 rng_;
};

// Parses a non-streamed Messages API answer.
Result<LlmResponse> ParseMessage(const std::string& body);

}  // namespace porch
