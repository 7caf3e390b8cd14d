// Status and Result<T>: errors as values.
//
// A Status is either OK or carries a code and a message. Messages start
// lower-case, end without a period, quote ids and paths, and gain context at
// each layer through Annotate(): "loading plan 'x.yaml': line 3: ...".
//
// Codes say what the caller can do about the error:
//   kInvalidArgument  the input is wrong (plan, config, flags): exit code 2
//   kNotFound         a named thing does not exist
//   kAlreadyExists    refusing to overwrite (e.g. an existing run id)
//   kUnavailable      transient; retrying may succeed
//   kInfeasible       permanent; retrying will not help
//   kIoError          the OS refused (errno text in the message)
//   kInternal         a bug or an unexpected state
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace porch {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,
    kNotFound,
    kAlreadyExists,
    kUnavailable,
    kInfeasible,
    kIoError,
    kCancelled,
    kInternal,
  };

  Status() = default;

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) { return {Code::kInvalidArgument, std::move(msg)}; }
  static Status NotFound(std::string msg) { return {Code::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) { return {Code::kAlreadyExists, std::move(msg)}; }
  static Status Unavailable(std::string msg) { return {Code::kUnavailable, std::move(msg)}; }
  static Status Infeasible(std::string msg) { return {Code::kInfeasible, std::move(msg)}; }
  static Status IoError(std::string msg) { return {Code::kIoError, std::move(msg)}; }
  static Status Internal(std::string msg) { return {Code::kInternal, std::move(msg)}; }
  // An I/O error from errno: "<what>: <strerror(err)>".
  static Status FromErrno(const std::string& what, int err);

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns a copy whose message is "<context>: <message>". OK stays OK.
  Status Annotate(const std::string& context) const;
  // A copy with every occurrence of each of `secrets` (8 characters or
  // longer) in the message replaced by "<redacted>": for errors that quote
  // what a remote service said, which may echo a credential.
  Status Redact(const std::vector<std::string>& secrets) const;

  // "invalid argument: ..." style, for logs.
  std::string ToString() const;

  // Drops the status on purpose (Status is [[nodiscard]]): for best-effort
  // work whose failure changes nothing, such as a log file or a cleanup.
  void IgnoreError() const {}
  static const char* CodeName(Code code);

 private:
  Status(Code code, std::string msg) : code_(code), message_(std::move(msg)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// Either a value or a non-OK Status. Accessing value() of an error is a bug.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result built from an OK status has no value");
  }

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  // Drops the result on purpose (see Status::IgnoreError).
  void IgnoreError() const {}

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace porch

// Returns early from the enclosing function when `expr` is not OK.
#define PORCH_RETURN_IF_ERROR(expr)      \
  do {                                   \
    ::porch::Status _st = (expr);        \
    if (!_st.ok()) return _st;           \
  } while (0)
