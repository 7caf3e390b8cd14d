#include "model/usage.h"

namespace porch {

using nlohmann::json;

Usage& Usage::operator+=(const Usage& o) {
  input_tokens += o.input_tokens;
  output_tokens += o.output_tokens;
  cache_creation_input_tokens += o.cache_creation_input_tokens;
  cache_read_input_tokens += o.cache_read_input_tokens;
  return *this;
}

Usage Usage::operator-(const Usage& o) const {
  Usage d;
  d.input_tokens = input_tokens - o.input_tokens;
  d.output_tokens = output_tokens - o.output_tokens;
  d.cache_creation_input_tokens = cache_creation_input_tokens - o.cache_creation_input_tokens;
  d.cache_read_input_tokens = cache_read_input_tokens - o.cache_read_input_tokens;
  return d;
}

Usage Usage::FromJson(const json& j) {
  Usage u;
  if (!j.is_object()) return u;
  auto get = [&](const char* k) -> int64_t {
    auto it = j.find(k);
    return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  };
  u.input_tokens = get("input_tokens");
  u.output_tokens = get("output_tokens");
  u.cache_creation_input_tokens = get("cache_creation_input_tokens");
  u.cache_read_input_tokens = get("cache_read_input_tokens");
  return u;
}

json Usage::ToJson() const {
  return {{"input_tokens", input_tokens},
          {"output_tokens", output_tokens},
          {"cache_creation_input_tokens", cache_creation_input_tokens},
          {"cache_read_input_tokens", cache_read_input_tokens}};
}

}  // namespace porch
