#include "core/status.h"

#include <cstring>

namespace porch {

Status Status::FromErrno(const std::string& what, int err) {
  return IoError(what + ": " + std::strerror(err));
}

Status Status::Redact(const std::vector<std::string>& secrets) const {
  constexpr size_t kShortestSecret = 8;  // shorter ones would redact ordinary words
  Status out = *this;
  for (const std::string& secret : secrets) {
    if (secret.size() < kShortestSecret) continue;
    for (size_t at; (at = out.message_.find(secret)) != std::string::npos;) {
      out.message_.replace(at, secret.size(), "<redacted>");
    }
  }
  return out;
}

Status Status::Annotate(const std::string& context) const {
  if (ok()) return *this;
  return Status(code_, context + ": " + message_);
}

const char* Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid argument";
    case Code::kNotFound: return "not found";
    case Code::kAlreadyExists: return "already exists";
    case Code::kUnavailable: return "unavailable";
    case Code::kInfeasible: return "infeasible";
    case Code::kIoError: return "i/o error";
    case Code::kCancelled: return "cancelled";
    case Code::kInternal: return "internal error";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + ": " + message_;
}

}  // namespace porch
