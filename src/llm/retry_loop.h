// The retry loop shared by the LLM clients: jittered exponential backoff that
// honours retry-after, bounded in attempts and in total time.
#pragma once

#include <functional>
#include <random>
#include <string>

#include "llm/llm_client.h"
#include "platform/clock.h"
#include "platform/http.h"

namespace porch {

struct RetryBudget {
  int max_attempts = 5;
  double base_delay_s = 1.0;
  double max_delay_s = 30.0;
  double max_total_s = 180.0;  // no new attempt starts after this much time
};

struct TryOutcome {
  Result<LlmResponse> result = Status::Unavailable("not tried");
  bool retryable = false;
  double retry_after_s = 0;  // from the server, 0 when none
};

// Calls `try_once` until it succeeds, fails for good, or the budget is spent.
// The final error names `service`, the attempts made and the last cause.
Result<LlmResponse> RetryLoop(Clock& clock, std::mt19937_64& rng, const RetryBudget& budget,
                              const std::string& service,
                              const std::function<TryOutcome()>& try_once);

// Classifies an HTTP answer that is not 2xx: 429, 529 and 5xx are retryable
// (with retry-after when given); other statuses fail at once with the API's
// own error message.
TryOutcome FailureFromHttp(const HttpResponse& response, const std::string& service);

}  // namespace porch
