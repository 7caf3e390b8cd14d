#include "core/status.h"

#include <cstring>

namespace porch {

Status Status::FromErrno(const std::string& what, int err) {
  return IoError(what + ": " + std::strerror(err));
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
