#include "llm/retry_loop.h"

#include <algorithm>
#include <cstdlib>

#include "model/json_fields.h"

namespace porch {

using nlohmann::json;

TryOutcome FailureFromHttp(const HttpResponse& r, const std::string& service) {
  TryOutcome out;
  std::string detail;
  json body = json::parse(r.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    detail = JsonString(body["error"], "type") + ": " + JsonString(body["error"], "message");
  } else if (body.is_object() && body.contains("message")) {  // Bedrock's shape
    detail = JsonString(body, "message");
  } else {
    detail = r.body.substr(0, 300);
  }
  std::string msg = service + " answered HTTP " + std::to_string(r.status) +
                    (detail.empty() ? "" : " (" + detail + ")");
  bool retryable = r.status == 429 || r.status == 529 || r.status >= 500;
  out.retryable = retryable;
  if (retryable) {
    out.result = Status::Unavailable(msg);
    std::string ra = r.Header("retry-after");
    if (!ra.empty()) out.retry_after_s = std::max(0.0, std::atof(ra.c_str()));
  } else if (r.status == 401 || r.status == 403) {
    out.result = Status::InvalidArgument(msg + "; check the credentials");
  } else {
    out.result = Status::InvalidArgument(msg);
  }
  return out;
}

Result<LlmResponse> RetryLoop(Clock& clock, std::mt19937_64& rng, const RetryBudget& budget,
                              const std::string& service,
                              const std::function<TryOutcome()>& try_once) {
  return RetryWithBackoff<LlmResponse>(clock, &rng, budget, service,
                                       [&](int) { return try_once(); });
}

}  // namespace porch
