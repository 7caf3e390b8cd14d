#include "model/run_identity.h"

#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "core/digest.h"
#include "platform/files.h"

namespace porch {

using nlohmann::json;

namespace {

constexpr size_t kUidHexDigits = 16;
constexpr size_t kNameHashDigits = 8;

bool IsUid(const std::string& s) {
  if (s.size() != kUidHexDigits) return false;
  for (char c : s) {
    if (!std::isxdigit(static_cast<unsigned char>(c)) || std::isupper(static_cast<unsigned char>(c))) {
      return false;
    }
  }
  return true;
}

}  // namespace

RunIdentity NewRunIdentity(const RunLayout& layout, double now) {
  std::random_device rd;
  char uid[kUidHexDigits + 1];
  std::snprintf(uid, sizeof uid, "%08x%08x", rd(), rd());
  return {layout.run_id(), uid, now};
}

Status WriteRunIdentity(const RunLayout& layout, const RunIdentity& id) {
  json j = {{"run_id", id.run_id}, {"uid", id.uid}, {"created_at", id.created_at}};
  return WriteFileAtomic(layout.identity(), j.dump(2) + "\n");
}

Result<RunIdentity> ReadRunIdentity(const RunLayout& layout) {
  Result<std::string> text = ReadFile(layout.identity());
  if (!text.ok()) {
    if (!PathExists(layout.identity())) return Status::NotFound("no '" + layout.identity() + "'");
    return text.status();
  }
  json j = json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("uid") || !j["uid"].is_string() ||
      !IsUid(j["uid"].get<std::string>())) {
    return Status::InvalidArgument("'" + layout.identity() +
                                   "' is damaged: it holds no valid run uid (16 hex digits)");
  }
  RunIdentity id;
  id.run_id = layout.run_id();
  id.uid = j["uid"].get<std::string>();
  if (j.contains("created_at") && j["created_at"].is_number()) id.created_at = j["created_at"].get<double>();
  return id;
}

Result<RunIdentity> EnsureRunIdentity(const RunLayout& layout, double now) {
  Result<RunIdentity> have = ReadRunIdentity(layout);
  if (have.ok() || have.status().code() != Status::Code::kNotFound) return have;
  RunIdentity id = NewRunIdentity(layout, now);
  PORCH_RETURN_IF_ERROR(WriteRunIdentity(layout, id));
  return id;
}

std::string SafeName(const std::string& text, size_t max_len) {
  std::string out;
  bool changed = false;
  for (char c : text) {
    bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    out += ok ? c : '_';
    changed |= !ok;
  }
  if (out.size() > max_len) {
    out.resize(max_len);
    changed = true;
  }
  if (changed || out.empty()) out += "-" + Sha256Hex(text).substr(0, kNameHashDigits);
  return out;
}

}  // namespace porch
