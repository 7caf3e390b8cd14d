// Creates the configured LlmClient: the Anthropic API (key from
// ANTHROPIC_API_KEY or llm.api_key) or Bedrock (credentials from the standard
// AWS chain). Missing credentials are a NotFound error that says where porch
// looked.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/config.h"
#include "llm/llm_client.h"
#include "platform/clock.h"
#include "platform/http.h"

namespace porch {

Result<std::unique_ptr<LlmClient>> CreateLlmClient(const Config& config,
                                                   const std::map<std::string, std::string>& env,
                                                   const std::string& home, HttpClient* http,
                                                   Clock* clock);

// The price table entry for the configured model (llm.price overrides it).
Result<ModelPrice> ConfiguredPrice(const Config& config);

}  // namespace porch
