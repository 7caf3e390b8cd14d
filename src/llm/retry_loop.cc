#include "llm/retry_loop.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace porch {

using nlohmann::json;

TryOutcome FailureFromHttp(const HttpResponse& r, const std::string& service) {
  TryOutcome out;
  std::string detail;
  json body = json::parse(r.body, nullptr, false);
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    detail = body["error"].value("type", "") + ": " + body["error"].value("message", "");
  } else if (body.is_object() && body.contains("message")) {  // Bedrock's shape
    detail = body.value("message", "");
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
  const double start = clock.Now();
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  Status last;
  int attempt = 0;
  for (attempt = 1; attempt <= std::max(1, budget.max_attempts); ++attempt) {
    TryOutcome out = try_once();
    if (out.result.ok() || !out.retryable) return out.result;
    last = out.result.status();
    if (attempt == budget.max_attempts) break;
    double delay = std::min(budget.max_delay_s, budget.base_delay_s * std::pow(2.0, attempt - 1));
    delay *= jitter(rng);  // "equal jitter": spread clients apart
    delay = std::max(delay, out.retry_after_s);
    if (clock.Now() + delay - start > budget.max_total_s) break;
    double until = clock.Now() + delay;
    while (clock.Now() < until) clock.SleepUntil(until);
  }
  char took[32];
  std::snprintf(took, sizeof took, "%.1f", clock.Now() - start);
  return Status::Unavailable(service + ": gave up after " +
                             std::to_string(std::min(attempt, budget.max_attempts)) +
                             " attempts in " + took + "s; last error: " + last.message());
}

}  // namespace porch
