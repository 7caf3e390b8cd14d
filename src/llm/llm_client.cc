#include "llm/llm_client.h"

#include <sstream>

#include "model/json_fields.h"

namespace porch {

using nlohmann::json;


std::string LlmResponse::Text() const {
  std::string out;
  for (const json& b : content) {
    if (JsonString(b, "type") == "text") out += JsonString(b, "text");
  }
  return out;
}

const json* LlmResponse::ToolUse(const std::string& name) const {
  for (const json& b : content) {
    if (JsonString(b, "type") == "tool_use" && JsonString(b, "name") == name) return &b;
  }
  return nullptr;
}

int MaxOutputTokensForModel(const std::string& model) {
  auto has = [&](const char* s) { return model.find(s) != std::string::npos; };
  if (has("claude-3-haiku") || has("claude-3-opus") || has("claude-3-sonnet")) return 4096;
  if (has("claude-3-5")) return 8192;
  if (has("opus-4") && !has("opus-4-5") && !has("opus-4-6")) return 32000;  // Opus 4 and 4.1
  return 64000;  // Sonnet 3.7 and 4.x, Haiku 4.5, Opus 4.5 and later, and unknown models
}

ModelPrice PriceForModel(const std::string& model) {
  if (model.find("opus") != std::string::npos) return {15.0, 75.0, 18.75, 1.50};
  if (model.find("haiku") != std::string::npos) return {0.80, 4.0, 1.0, 0.08};
  return {3.0, 15.0, 3.75, 0.30};  // sonnet, and the default
}

Result<ModelPrice> ParsePrice(const std::string& text) {
  ModelPrice p;
  char comma;
  std::istringstream in(text);
  if (!(in >> p.input >> comma >> p.output >> comma >> p.cache_write >> comma >> p.cache_read) ||
      p.input < 0 || p.output < 0 || p.cache_write < 0 || p.cache_read < 0) {
    return Status::InvalidArgument("a price must be 'input,output,cache_write,cache_read' in USD "
                                   "per million tokens, found '" + text + "'");
  }
  return p;
}

double CostUsd(const Usage& u, const ModelPrice& p) {
  return (u.input_tokens * p.input + u.output_tokens * p.output +
          u.cache_creation_input_tokens * p.cache_write + u.cache_read_input_tokens * p.cache_read) /
         1e6;
}

Result<LlmResponse> CompleteCounted(LlmClient* llm, const LlmRequest& request, Usage* usage) {
  const Usage lost_before = llm->unreturned_usage();
  Result<LlmResponse> resp = llm->Complete(request);
  *usage += llm->unreturned_usage() - lost_before;
  if (resp.ok()) *usage += resp->usage;
  return resp;
}

}  // namespace porch
