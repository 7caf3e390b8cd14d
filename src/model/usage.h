// Tokens an AI attempt or a planner call used, as the Messages API counts
// them. Serialised in one place (ToJson / FromJson) for result files, the
// planner's summary and the agents' logs.
#pragma once

#include <cstdint>

#include <nlohmann/json.hpp>

namespace porch {

struct Usage {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  int64_t cache_creation_input_tokens = 0;
  int64_t cache_read_input_tokens = 0;

  Usage& operator+=(const Usage& o);
  // Field by field: what was added since `o` (for cumulative counters).
  Usage operator-(const Usage& o) const;
  int64_t total() const {
    return input_tokens + output_tokens + cache_creation_input_tokens + cache_read_input_tokens;
  }
  // The API's "usage" object; fields that are missing or not integers read as 0.
  static Usage FromJson(const nlohmann::json& j);
  nlohmann::json ToJson() const;
};

}  // namespace porch
