// Reading JSON that came from outside porch (an LLM's answer, the Claude
// Code CLI's stream, a server's error body): a field that is missing or of
// another type reads as the fallback. nlohmann's value() throws type_error
// for a present field of the wrong type, so a hostile or buggy answer would
// end porch; these never throw.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace porch {

// `j[key]`, or null when `j` is not an object or has no such key.
inline const nlohmann::json& JsonField(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kNull;
  if (!j.is_object()) return kNull;
  auto it = j.find(key);
  return it == j.end() ? kNull : *it;
}

inline std::string JsonString(const nlohmann::json& j, const char* key,
                              const std::string& fallback = "") {
  const nlohmann::json& v = JsonField(j, key);
  return v.is_string() ? v.get<std::string>() : fallback;
}

inline double JsonNumber(const nlohmann::json& j, const char* key, double fallback = 0) {
  const nlohmann::json& v = JsonField(j, key);
  return v.is_number() ? v.get<double>() : fallback;
}

// An integer field; a fractional or out-of-range number reads as the fallback.
inline int64_t JsonInt(const nlohmann::json& j, const char* key, int64_t fallback = 0) {
  const nlohmann::json& v = JsonField(j, key);
  if (v.is_number_unsigned()) {
    return v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX) ? static_cast<int64_t>(v.get<uint64_t>())
                                                                  : fallback;
  }
  return v.is_number_integer() ? v.get<int64_t>() : fallback;
}

inline bool JsonBool(const nlohmann::json& j, const char* key, bool fallback = false) {
  const nlohmann::json& v = JsonField(j, key);
  return v.is_boolean() ? v.get<bool>() : fallback;
}

// The field when it is an object (an array), else an empty one.
inline const nlohmann::json& JsonObject(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json& v = JsonField(j, key);
  return v.is_object() ? v : kEmpty;
}
inline const nlohmann::json& JsonArray(const nlohmann::json& j, const char* key) {
  static const nlohmann::json kEmpty = nlohmann::json::array();
  const nlohmann::json& v = JsonField(j, key);
  return v.is_array() ? v : kEmpty;
}

}  // namespace porch
