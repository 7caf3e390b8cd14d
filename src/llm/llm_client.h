// The LLM seam: one interface over the Anthropic Messages API and AWS
// Bedrock's Anthropic models. Requests and answers use the Messages API's
// JSON shapes (content blocks, tool_use / tool_result), which both services
// share.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "model/usage.h"

namespace porch {


struct LlmRequest {
  std::string model;                // empty: the client's configured model
  nlohmann::json system = nlohmann::json::array();    // text blocks (may carry cache_control)
  nlohmann::json messages = nlohmann::json::array();  // [{role, content}]
  nlohmann::json tools = nlohmann::json::array();
  nlohmann::json tool_choice;       // null: model decides
  int max_tokens = 4096;
  bool stream = true;               // stream the answer (SSE / event stream)
};

struct LlmResponse {
  std::string id;
  std::string model;
  std::string stop_reason;
  nlohmann::json content = nlohmann::json::array();  // content blocks
  Usage usage;
  // A tool_use block was cut off by max_tokens (stop_reason "max_tokens");
  // its input is empty. Send the request again with more max_tokens.
  bool truncated_tool_use = false;
  std::string raw;  // the answer as received (JSON, or the assembled stream), for debugging

  // Concatenated text blocks.
  std::string Text() const;
  // The first tool_use block named `name`, or null.
  const nlohmann::json* ToolUse(const std::string& name) const;
};

class LlmClient {
 public:
  virtual ~LlmClient() = default;
  // "anthropic" or "bedrock".
  virtual std::string name() const = 0;
  // The model used when a request names none.
  virtual std::string model() const = 0;
  // Sends one request, retrying transient failures (429, 529, 5xx,
  // connection errors) within the client's bounds. Errors: InvalidArgument
  // for a request the API refused (4xx other than 429; the API's message is
  // included), Unavailable when retries ran out, NotFound for missing
  // credentials.
  virtual Result<LlmResponse> Complete(const LlmRequest& request) = 0;

  // Tokens the service billed for answers Complete() did not return (a
  // stream cut off after message_start, a malformed answer that was retried),
  // summed over the client's life. A caller that counts usage adds the
  // growth of this figure around each Complete() to the answer's usage.
  // Not thread-safe, like the client.
  const Usage& unreturned_usage() const { return unreturned_usage_; }

 protected:
  void CountUnreturned(const Usage& usage) { unreturned_usage_ += usage; }

 private:
  Usage unreturned_usage_;
};

// llm->Complete(request), adding to *usage every token it was billed: the
// answer's usage, and that of tries which failed on the way (also when the
// call fails in the end).
Result<LlmResponse> CompleteCounted(LlmClient* llm, const LlmRequest& request, Usage* usage);

// Price of a model in USD per million tokens.
struct ModelPrice {
  double input = 3.0;
  double output = 15.0;
  double cache_write = 3.75;
  double cache_read = 0.30;
};

// The most output tokens `model` may be asked for in one answer (matched
// by family and generation, Bedrock ids included); 64000 when unknown.
int MaxOutputTokensForModel(const std::string& model);

// The built-in price for `model` (matched by family: opus, sonnet, haiku;
// Bedrock ids included). Unknown models get Sonnet's price.
ModelPrice PriceForModel(const std::string& model);
// Parses "input,output,cache_write,cache_read" (USD per million tokens).
Result<ModelPrice> ParsePrice(const std::string& text);
double CostUsd(const Usage& usage, const ModelPrice& price);

}  // namespace porch
