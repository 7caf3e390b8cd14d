// How the LLM clients retry: platform/retry.h's loop, with the Messages
// API's notion of what is worth retrying (429, 529, 5xx, connection errors;
// retry-after honoured).
#pragma once

#include <random>
#include <string>

#include "llm/llm_client.h"
#include "platform/clock.h"
#include "platform/http.h"
#include "platform/retry.h"

namespace porch {

using TryOutcome = TryResult<LlmResponse>;

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
