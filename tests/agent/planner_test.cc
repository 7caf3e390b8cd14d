// The planner and both LLM clients against the project's fake API server,
// over real HTTP on 127.0.0.1.
#include "agent/planner.h"

#include <gtest/gtest.h>

#include <chrono>

#include "fakes/fake_llm_server.h"
#include "llm/anthropic_client.h"
#include "llm/bedrock_client.h"
#include "platform/http.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

json Complexity(int n) {
  return {{"match", "How complex"},
          {"responses",
           {{{"tool_use",
              {{"name", "report_complexity"},
               {"input", {{"score", 4}, {"rationale", "a small app"}, {"recommended_tasks", n}}}}}}}}};
}

json PlanAnswer(json tasks) {
  return {{"tool_use", {{"name", "submit_plan"}, {"input", {{"tasks", tasks}}}}}};
}

json Task3() {
  return json::array(
      {{{"id", "html"}, {"title", "Markup"}, {"prompt", "Write index.html"}, {"depends_on", json::array()},
        {"outputs", {"index.html"}}},
       {{"id", "store"}, {"title", "Storage"}, {"prompt", "Write store.js"}, {"depends_on", {"html"}},
        {"outputs", {"store.js"}}},
       {{"id", "app"}, {"title", "App"}, {"prompt", "Write app.js"}, {"depends_on", {"store"}},
        {"outputs", {"app.js"}}, {"acceptance", "node --check app.js"}}});
}

class PlannerTest : public ::testing::Test {
 protected:
  void Serve(json rules, std::vector<std::string> args = {}) {
    server_ = std::make_unique<FakeLlmServer>(dir_.path(), json{{"rules", rules}}, args);
    ASSERT_TRUE(server_->ok()) << "the fake LLM server did not start (is python3 installed?)";
  }

  std::unique_ptr<LlmClient> Anthropic(double timeout = 30, int attempts = 4) {
    AnthropicOptions o;
    o.base_url = server_->url();
    o.api_key = "sk-test";
    o.timeout_s = timeout;
    o.retry.max_attempts = attempts;
    o.retry.backoff = {/*initial_s=*/0.05, /*multiplier=*/2, /*max_s=*/0.2, /*jitter=*/0};
    return std::make_unique<AnthropicClient>(&http_, &clock_, o);
  }

  Result<PlanResult> MakePlan(LlmClient* llm, int attempts = 3) {
    PlannerOptions o;
    o.max_attempts = attempts;
    Planner planner(llm, o, [&](const std::string& name, const std::string&) { raw_.push_back(name); });
    return planner.MakePlan("Build a todo list web app with local storage");
  }

  TempDir dir_;
  std::unique_ptr<FakeLlmServer> server_;
  CurlHttpClient http_;
  RealClock clock_;
  std::vector<std::string> raw_;
};

TEST_F(PlannerTest, GoodPlanOverTheMessagesApi) {
  Serve({Complexity(3), {{"match", "Plan it as"}, {"responses", {PlanAnswer(Task3())}}}});
  auto llm = Anthropic();
  Result<PlanResult> r = MakePlan(llm.get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->complexity.score, 4);
  EXPECT_EQ(r->complexity.tasks, 3);
  ASSERT_EQ(r->plan.tasks.size(), 3u);
  EXPECT_EQ(r->plan.tasks[2].acceptance, "node --check app.js");
  EXPECT_EQ(r->plan.requirements, "Build a todo list web app with local storage");
  EXPECT_EQ(r->plan_attempts, 1);
  EXPECT_EQ(raw_, (std::vector<std::string>{"complexity", "plan-1"}));
  // The second call reused the cached prefix.
  EXPECT_GT(r->usage.cache_creation_input_tokens, 0);
  EXPECT_GT(r->usage.cache_read_input_tokens, 0);

  auto posts = server_->Posts();
  ASSERT_EQ(posts.size(), 2u);
  for (const json& p : posts) {
    EXPECT_EQ(p["path"], "/v1/messages");
    EXPECT_EQ(p["headers"]["anthropic-version"], "2023-06-01");
    EXPECT_EQ(p["headers"]["x-api-key"], "sk-test");
    EXPECT_EQ(p["body"]["stream"], true);
    EXPECT_EQ(p["body"]["system"][0]["cache_control"]["type"], "ephemeral");
  }
  EXPECT_EQ(posts[0]["body"]["tool_choice"]["name"], "report_complexity");
  EXPECT_EQ(posts[1]["body"]["tool_choice"]["name"], "submit_plan");
  EXPECT_EQ(posts[1]["body"]["tools"][0]["input_schema"]["required"][0], "tasks");
}

TEST_F(PlannerTest, CyclicPlanIsRepairedOnTheSecondTry) {
  json cyclic = Task3();
  cyclic[0]["depends_on"] = {"app"};
  Serve({Complexity(3),
         {{"match", "Plan it as"}, {"responses", {PlanAnswer(cyclic)}}, {"once", true}},
         {{"match", "The plan is invalid"}, {"responses", {PlanAnswer(Task3())}}}});
  auto llm = Anthropic();
  Result<PlanResult> r = MakePlan(llm.get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->plan_attempts, 2);
  auto posts = server_->Posts();
  ASSERT_EQ(posts.size(), 3u);
  const json& last = posts[2]["body"]["messages"].back();
  EXPECT_EQ(last["role"], "user");
  EXPECT_EQ(last["content"][0]["type"], "tool_result");
  EXPECT_EQ(last["content"][0]["is_error"], true);
  std::string feedback = last["content"][0]["content"];
  EXPECT_NE(feedback.find("dependency cycle: html -> app -> store -> html"), std::string::npos)
      << feedback;
}

TEST_F(PlannerTest, OverlappingFileOwnershipIsRepaired) {
  json overlap = Task3();
  overlap[1]["outputs"] = {"index.html"};
  Serve({Complexity(3),
         {{"match", "Plan it as"}, {"responses", {PlanAnswer(overlap)}}, {"once", true}},
         {{"match", "The plan is invalid"}, {"responses", {PlanAnswer(Task3())}}}});
  auto llm = Anthropic();
  Result<PlanResult> r = MakePlan(llm.get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->plan_attempts, 2);
  std::string feedback = server_->Posts()[2]["body"]["messages"].back()["content"][0]["content"];
  EXPECT_NE(feedback.find("output 'index.html' is already owned by task 'html'"), std::string::npos)
      << feedback;
}

TEST_F(PlannerTest, APlanCutOffAtMaxTokensIsAskedForAgainWithMoreRoom) {
  json cut = PlanAnswer(Task3());
  cut["truncate_below"] = 10000;
  Serve({Complexity(3), {{"match", "Plan it as"}, {"responses", {cut}}}});
  auto llm = Anthropic();
  Result<PlanResult> r = MakePlan(llm.get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->plan.tasks.size(), 3u);
  EXPECT_EQ(r->plan_attempts, 1);  // not a wrong plan: the same question with more room
  auto posts = server_->Posts();
  ASSERT_EQ(posts.size(), 3u);
  EXPECT_EQ(posts[1]["body"]["max_tokens"], 8192);
  EXPECT_EQ(posts[2]["body"]["max_tokens"], 16384);
}

TEST_F(PlannerTest, GarbageThreeTimesFailsClearly) {
  json traversal = Task3();
  traversal[0]["outputs"] = {"../../etc/passwd"};
  Serve({Complexity(3),
         {{"match", "Plan it as"}, {"responses", {{{"text", "Sure! Here is my plan: ..."}}}}, {"once", true}},
         {{"match", "did not call submit_plan"},
          {"responses", {PlanAnswer(json::array({{{"id", "x"}}}))}}, {"once", true}},
         {{"match", "needs a non-empty string"}, {"responses", {PlanAnswer(traversal)}}}});
  auto llm = Anthropic();
  Result<PlanResult> r = MakePlan(llm.get(), 3);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kUnavailable);
  EXPECT_NE(r.status().message().find("no valid plan in 3 attempts"), std::string::npos);
  EXPECT_NE(r.status().message().find("output '../../etc/passwd' contains '..'"), std::string::npos)
      << r.status().message();
  EXPECT_EQ(server_->Posts().size(), 4u);
}

TEST_F(PlannerTest, RateLimitStormLongerThanOneBackoff) {
  json r429 = {{"status", 429}, {"retry_after", 0.3}};
  Serve({Complexity(3),
         {{"match", "Plan it as"}, {"responses", {r429, r429, r429, PlanAnswer(Task3())}}}});
  auto llm = Anthropic(30, 5);
  auto t0 = std::chrono::steady_clock::now();
  Result<PlanResult> r = MakePlan(llm.get());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server_->Posts().size(), 5u);  // complexity + 3 refused + 1 answered
  EXPECT_GE(secs, 0.9);                     // retry-after was honoured each time
}

TEST_F(PlannerTest, OverloadThatOutlastsTheRetriesFails) {
  Serve({{{"responses", {{{"status", 529}}}}}});
  auto llm = Anthropic(30, 3);
  Result<PlanResult> r = MakePlan(llm.get());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("gave up after 3 attempts"), std::string::npos)
      << r.status().message();
  EXPECT_NE(r.status().message().find("HTTP 529"), std::string::npos);
  EXPECT_EQ(server_->Posts().size(), 3u);
}

TEST_F(PlannerTest, HangHitsTheTimeout) {
  Serve({{{"responses", {{{"hang", 30}}}}}});
  auto llm = Anthropic(/*timeout=*/0.5, /*attempts=*/2);
  auto t0 = std::chrono::steady_clock::now();
  Result<PlanResult> r = MakePlan(llm.get());
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("no complete answer within"), std::string::npos)
      << r.status().message();
  EXPECT_LT(secs, 15.0);  // two tries of 0.5 s and a backoff, far from the 30 s hang even on a loaded machine
}

TEST_F(PlannerTest, MalformedAnswersAreRetried) {
  Serve({Complexity(3),
         {{"match", "Plan it as"}, {"responses", {{{"malformed", true}}, {{"broken_stream", true}},
                                                  PlanAnswer(Task3())}}}});
  auto llm = Anthropic();
  Result<PlanResult> r = MakePlan(llm.get());
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server_->Posts().size(), 4u);
}

TEST_F(PlannerTest, RefusedRequestFailsAtOnceWithTheApiMessage) {
  Serve({{{"responses", {{{"status", 400}, {"message", "max_tokens: too large"}}}}}});
  auto llm = Anthropic();
  Result<PlanResult> r = MakePlan(llm.get());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("max_tokens: too large"), std::string::npos);
  EXPECT_EQ(server_->Posts().size(), 1u);
}

TEST_F(PlannerTest, NonStreamingAnswer) {
  Serve({{{"responses", {{{"text", "plain answer"}}}}}});
  auto llm = Anthropic();
  LlmRequest req;
  req.stream = false;
  req.messages = json::array({{{"role", "user"}, {"content", "hi"}}});
  Result<LlmResponse> r = llm->Complete(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->Text(), "plain answer");
  EXPECT_EQ(r->stop_reason, "end_turn");
  EXPECT_GT(r->usage.output_tokens, 0);
  EXPECT_FALSE(server_->Posts()[0]["body"].contains("stream"));
}

TEST_F(PlannerTest, BedrockEventStream) {
  Serve({Complexity(3), {{"match", "Plan it as"}, {"responses", {PlanAnswer(Task3())}}}});
  BedrockOptions o;
  o.endpoint = server_->url();
  o.credentials = {"AKIDTEST", "secret", "token-1", "test"};
  o.retry.backoff.initial_s = 0.05;
  BedrockClient llm(&http_, &clock_, o);
  Result<PlanResult> r = MakePlan(&llm);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->plan.tasks.size(), 3u);
  auto posts = server_->Posts();
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(posts[0]["path"],
            "/model/global.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke-with-response-stream");
  EXPECT_EQ(posts[0]["body"]["anthropic_version"], "bedrock-2023-05-31");
  EXPECT_FALSE(posts[0]["body"].contains("model"));
  EXPECT_FALSE(posts[0]["body"].contains("stream"));
  std::string auth = posts[0]["headers"]["authorization"];
  EXPECT_EQ(auth.rfind("AWS4-HMAC-SHA256 Credential=AKIDTEST/", 0), 0u) << auth;
  EXPECT_NE(auth.find("/eu-central-1/bedrock/aws4_request"), std::string::npos);
  EXPECT_NE(auth.find("x-amz-security-token"), std::string::npos);
  EXPECT_EQ(posts[0]["headers"]["x-amz-security-token"], "token-1");
}

TEST_F(PlannerTest, BedrockRegionalModelIds) {
  Serve({{{"responses", {{{"text", "ok"}}}}}});
  BedrockOptions o;
  o.endpoint = server_->url();
  o.model = "eu.anthropic.claude-sonnet-4-5-20250929-v1:0";
  o.credentials = {"AKIDTEST", "secret", "", "test"};
  BedrockClient llm(&http_, &clock_, o);
  LlmRequest req;
  req.stream = false;
  req.messages = json::array({{{"role", "user"}, {"content", "hi"}}});
  Result<LlmResponse> r = llm.Complete(req);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(server_->Posts()[0]["path"], "/model/eu.anthropic.claude-sonnet-4-5-20250929-v1%3A0/invoke");
}

TEST(PlannerUnitTest, EveryProblemIsListedInOneRoundByJsonPointer) {
  json tasks = Task3();
  tasks[0].erase("title");                        // schema
  tasks[0]["depends_on"] = {"app"};               // graph: a cycle html -> app -> store -> html
  tasks[1]["depends_on"] = {"html", "nope"};      // graph: an unknown task
  tasks[2]["outputs"] = {"../escape.js"};         // a path
  tasks.push_back({{"id", "html"}, {"title", "Again"}, {"prompt", "p"}, {"depends_on", json::array()},
                   {"outputs", {"other.html"}}});  // a duplicate id
  Result<Plan> r = Planner::PlanFromToolInput({{"tasks", tasks}});
  ASSERT_FALSE(r.ok());
  const std::string& m = r.status().message();
  for (const char* want : {"/tasks/0: needs a non-empty string 'title'",
                           "/tasks/1: task 'store' depends on unknown task 'nope'",
                           "/tasks/2: task 'app': output '../escape.js' contains '..'",
                           "/tasks/3: duplicate task id 'html' (first at /tasks/0)",
                           "dependency cycle"}) {
    EXPECT_NE(m.find(want), std::string::npos) << want << "\n" << m;
  }
  EXPECT_EQ(m.find("plan:"), std::string::npos) << m;  // no lines of a text the model never saw
  EXPECT_EQ(m.find("line"), std::string::npos) << m;
}

TEST(PlannerUnitTest, PlanFromToolInputChecksTheSchema) {
  EXPECT_FALSE(Planner::PlanFromToolInput(json::object()).ok());
  Result<Plan> bad = Planner::PlanFromToolInput(
      {{"tasks", json::array({{{"id", "a"}, {"title", "A"}, {"command", "rm -rf /"}, {"outputs", {"x"}}}})}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("planned tasks use 'prompt'"), std::string::npos);
  Result<Plan> good = Planner::PlanFromToolInput({{"tasks", Task3()}});
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  EXPECT_EQ(good->tasks[1].depends_on, std::vector<std::string>{"html"});
}

}  // namespace
}  // namespace porch
