#include "llm/stream.h"

#include <gtest/gtest.h>

#include "llm/anthropic_client.h"
#include "llm/retry_loop.h"
#include "fakes/recording_http.h"
#include "fakes/fake_clock.h"

namespace porch {
namespace {

using nlohmann::json;

std::string Sse(const std::vector<json>& events) {
  std::string out;
  for (const json& e : events) out += "event: " + e["type"].get<std::string>() + "\ndata: " + e.dump() + "\n\n";
  return out;
}

std::vector<json> ToolStream() {
  return {
      {{"type", "message_start"},
       {"message", {{"id", "m1"}, {"model", "claude"}, {"usage", {{"input_tokens", 10}, {"cache_read_input_tokens", 7}}}}}},
      {{"type", "content_block_start"}, {"index", 0}, {"content_block", {{"type", "text"}, {"text", ""}}}},
      {{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "text_delta"}, {"text", "Hel"}}}},
      {{"type", "content_block_delta"}, {"index", 0}, {"delta", {{"type", "text_delta"}, {"text", "lo"}}}},
      {{"type", "content_block_stop"}, {"index", 0}},
      {{"type", "ping"}},
      {{"type", "content_block_start"}, {"index", 1},
       {"content_block", {{"type", "tool_use"}, {"id", "t1"}, {"name", "submit_plan"}, {"input", json::object()}}}},
      {{"type", "content_block_delta"}, {"index", 1}, {"delta", {{"type", "input_json_delta"}, {"partial_json", "{\"tasks\": [1,"}}}},
      {{"type", "content_block_delta"}, {"index", 1}, {"delta", {{"type", "input_json_delta"}, {"partial_json", " 2]}"}}}},
      {{"type", "content_block_stop"}, {"index", 1}},
      {{"type", "message_delta"}, {"delta", {{"stop_reason", "tool_use"}}}, {"usage", {{"output_tokens", 42}}}},
      {{"type", "message_stop"}}};
}

Result<LlmResponse> Assemble(const std::string& bytes, size_t chunk) {
  MessageAssembler a;
  SseParser p([&](const std::string&, const std::string& data) { a.OnEventText(data); });
  for (size_t i = 0; i < bytes.size(); i += chunk) p.Feed(std::string_view(bytes).substr(i, chunk));
  return a.Finish();
}

TEST(StreamTest, AssemblesTextAndToolUseFromAnyChunking) {
  std::string bytes = Sse(ToolStream());
  for (size_t chunk : {1u, 7u, 64u, 100000u}) {
    Result<LlmResponse> r = Assemble(bytes, chunk);
    ASSERT_TRUE(r.ok()) << chunk << ": " << r.status().ToString();
    EXPECT_EQ(r->Text(), "Hello");
    const json* use = r->ToolUse("submit_plan");
    ASSERT_NE(use, nullptr);
    EXPECT_EQ((*use)["input"]["tasks"], json::array({1, 2}));
    EXPECT_EQ(r->stop_reason, "tool_use");
    EXPECT_EQ(r->usage.input_tokens, 10);
    EXPECT_EQ(r->usage.cache_read_input_tokens, 7);
    EXPECT_EQ(r->usage.output_tokens, 42);
  }
}

TEST(StreamTest, CrlfLinesAndCommentsAreHandled) {
  std::string bytes = ": keep-alive\r\n\r\n" + Sse(ToolStream());
  size_t pos = 0;
  while ((pos = bytes.find("\n", pos + 2)) != std::string::npos && pos < 200) bytes.insert(pos, "\r");
  EXPECT_TRUE(Assemble(bytes, 5).ok());
}

TEST(StreamTest, IncompleteOrBrokenStreamsAreErrors) {
  std::vector<json> events = ToolStream();
  events.pop_back();  // no message_stop
  EXPECT_EQ(Assemble(Sse(events), 10).status().code(), Status::Code::kUnavailable);
  EXPECT_FALSE(Assemble("event: message_start\ndata: {not json\n\n", 10).ok());
  std::vector<json> bad_tool = ToolStream();
  bad_tool[8]["delta"]["partial_json"] = " 2";  // the tool input never closes
  EXPECT_NE(Assemble(Sse(bad_tool), 10).status().message().find("tool input is not valid JSON"),
            std::string::npos);
  std::vector<json> overloaded = {ToolStream()[0], {{"type", "error"}, {"error", {{"type", "overloaded_error"}, {"message", "busy"}}}}};
  Result<LlmResponse> r = Assemble(Sse(overloaded), 10);
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("overloaded_error: busy"), std::string::npos);
}

TEST(StreamTest, AToolCallCutOffByMaxTokensIsAnAnswerNotABrokenStream) {
  std::vector<json> cut = ToolStream();
  cut[8]["delta"]["partial_json"] = " 2";  // the input stops halfway...
  cut[10]["delta"]["stop_reason"] = "max_tokens";  // ...because the answer hit max_tokens
  Result<LlmResponse> r = Assemble(Sse(cut), 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->truncated_tool_use);
  EXPECT_EQ(r->stop_reason, "max_tokens");
  EXPECT_EQ(r->usage.output_tokens, 42);
  EXPECT_FALSE(Assemble(Sse(ToolStream()), 10)->truncated_tool_use);
}

TEST(StreamTest, TokensOfTriesThatFailedAreCounted) {
  // The first answer's stream breaks after message_start (billed for its
  // input); the retry succeeds. Both count.
  RecordingHttpClient http;
  std::vector<json> events = ToolStream();
  http.answers.push_back(RecordingHttpClient::Answer(200, Sse({events[0], events[1]})));
  http.answers.push_back(RecordingHttpClient::Answer(200, Sse(events)));
  FakeClock clock;
  AnthropicOptions o;
  o.api_key = "k";
  o.retry.max_attempts = 3;
  o.retry.backoff = {0.01, 2, 0.1, 0};
  AnthropicClient client(&http, &clock, o);
  LlmRequest req;
  req.messages = json::array({{{"role", "user"}, {"content", "hi"}}});
  Usage usage;
  Result<LlmResponse> r = CompleteCounted(&client, req, &usage);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(http.requests.size(), 2u);
  EXPECT_EQ(r->usage.input_tokens, 10);   // the answer's own
  EXPECT_EQ(usage.input_tokens, 20);      // and the broken try's
  EXPECT_EQ(usage.cache_read_input_tokens, 14);
  EXPECT_EQ(usage.output_tokens, 42);
  // A call that fails in the end still reports what it spent.
  http.answers.push_back(RecordingHttpClient::Answer(200, Sse({events[0]})));
  http.answers.push_back(RecordingHttpClient::Answer(200, Sse({events[0]})));
  http.answers.push_back(RecordingHttpClient::Answer(200, Sse({events[0]})));
  Usage failed;
  EXPECT_FALSE(CompleteCounted(&client, req, &failed).ok());
  EXPECT_EQ(failed.input_tokens, 30);
}

TEST(ModelLimitsTest, OutputTokensPerAnswerByModel) {
  EXPECT_EQ(MaxOutputTokensForModel("claude-3-haiku-20240307"), 4096);
  EXPECT_EQ(MaxOutputTokensForModel("claude-3-5-haiku-20241022"), 8192);
  EXPECT_EQ(MaxOutputTokensForModel("claude-opus-4-1-20250805"), 32000);
  EXPECT_EQ(MaxOutputTokensForModel("claude-opus-4-20250514"), 32000);
  EXPECT_EQ(MaxOutputTokensForModel("claude-opus-4-5"), 64000);
  EXPECT_EQ(MaxOutputTokensForModel("claude-sonnet-4-5"), 64000);
  EXPECT_EQ(MaxOutputTokensForModel("global.anthropic.claude-sonnet-4-5-20250929-v1:0"), 64000);
  EXPECT_EQ(MaxOutputTokensForModel("eu.anthropic.claude-3-5-sonnet-20240620-v1:0"), 8192);
}

TEST(StreamTest, AToolCallCutOffBeforeAnyInputIsTruncatedToo) {
  std::vector<json> cut = ToolStream();
  cut.erase(cut.begin() + 7, cut.begin() + 9);  // no input_json_delta at all
  for (json& e : cut) {
    if (e["type"] == "message_delta") e["delta"]["stop_reason"] = "max_tokens";
  }
  Result<LlmResponse> r = Assemble(Sse(cut), 10);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->truncated_tool_use);
}

TEST(UsageTest, CostFromUsageFields) {
  Usage u = Usage::FromJson({{"input_tokens", 1000000}, {"output_tokens", 100000},
                             {"cache_creation_input_tokens", 200000}, {"cache_read_input_tokens", 500000}});
  EXPECT_EQ(u.total(), 1800000);
  ModelPrice sonnet = PriceForModel("global.anthropic.claude-sonnet-4-5-20250929-v1:0");
  EXPECT_DOUBLE_EQ(CostUsd(u, sonnet), 3.0 + 1.5 + 0.75 + 0.15);
  EXPECT_DOUBLE_EQ(PriceForModel("claude-opus-4").input, 15.0);
  EXPECT_DOUBLE_EQ(PriceForModel("us.anthropic.claude-haiku-4-5").output, 4.0);
  Result<ModelPrice> p = ParsePrice("1,2,3,4");
  ASSERT_TRUE(p.ok());
  EXPECT_DOUBLE_EQ(CostUsd(u, *p), 1.0 + 0.2 + 0.6 + 2.0);
  EXPECT_FALSE(ParsePrice("cheap").ok());
  Usage sum;
  sum += u;
  sum += u;
  EXPECT_EQ(sum.output_tokens, 200000);
}

TEST(RetryLoopTest, BacksOffHonoursRetryAfterAndGivesUp) {
  FakeClock clock;
  std::mt19937_64 rng(1);
  RetryBudget budget;
  budget.max_attempts = 4;
  budget.backoff = {/*initial_s=*/1, /*multiplier=*/2, /*max_s=*/8, /*jitter=*/0.25};
  std::vector<double> tries;
  Result<LlmResponse> r = RetryLoop(clock, rng, budget, "svc", [&] {
    tries.push_back(clock.Now());
    TryOutcome o;
    o.result = Status::Unavailable("svc answered HTTP 429");
    o.retryable = true;
    o.retry_after_s = tries.size() == 1 ? 10 : 0;
    return o;
  });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("svc: gave up after 4 attempts"), std::string::npos)
      << r.status().message();
  ASSERT_EQ(tries.size(), 4u);
  EXPECT_GE(tries[1] - tries[0], 10.0);  // retry-after wins over the 1 s backoff
  EXPECT_GE(tries[2] - tries[1], 1.5);   // 2 s +/- 25%
  EXPECT_LE(tries[2] - tries[1], 2.5);
  EXPECT_GE(tries[3] - tries[2], 3.0);   // 4 s +/- 25%
  EXPECT_LE(tries[3] - tries[2], 5.0);
}

TEST(RetryLoopTest, TotalTimeBoundsTheRetries) {
  FakeClock clock;
  std::mt19937_64 rng(1);
  RetryBudget budget;
  budget.max_attempts = 100;
  budget.backoff = {10, 1, 10, 0};
  budget.max_total_s = 25;
  int n = 0;
  Result<LlmResponse> r = RetryLoop(clock, rng, budget, "svc", [&] {
    ++n;
    TryOutcome o;
    o.result = Status::Unavailable("down");
    o.retryable = true;
    return o;
  });
  EXPECT_FALSE(r.ok());
  EXPECT_LE(n, 5);
}

TEST(RetryLoopTest, NonRetryableStopsAtOnce) {
  FakeClock clock;
  std::mt19937_64 rng(1);
  int n = 0;
  Result<LlmResponse> r = RetryLoop(clock, rng, RetryBudget{}, "svc", [&] {
    ++n;
    TryOutcome o;
    o.result = Status::InvalidArgument("bad request");
    return o;
  });
  EXPECT_EQ(n, 1);
  EXPECT_EQ(r.status().message(), "bad request");
}

TEST(RetryLoopTest, HttpClassification) {
  HttpResponse r429;
  r429.status = 429;
  r429.headers = {{"retry-after", "3"}};
  r429.body = R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})";
  TryOutcome o = FailureFromHttp(r429, "anthropic API");
  EXPECT_TRUE(o.retryable);
  EXPECT_DOUBLE_EQ(o.retry_after_s, 3);
  EXPECT_NE(o.result.status().message().find("HTTP 429 (rate_limit_error: slow down)"), std::string::npos);
  HttpResponse r401;
  r401.status = 401;
  r401.body = R"({"message":"The security token included in the request is invalid."})";
  o = FailureFromHttp(r401, "bedrock");
  EXPECT_FALSE(o.retryable);
  EXPECT_NE(o.result.status().message().find("security token"), std::string::npos);
  EXPECT_NE(o.result.status().message().find("check the credentials"), std::string::npos);
  for (long s : {500L, 502L, 503L, 529L}) {
    HttpResponse r;
    r.status = s;
    EXPECT_TRUE(FailureFromHttp(r, "x").retryable) << s;
  }
}

}  // namespace
}  // namespace porch
