// `porch plan` and `porch run "REQ"` against the fake LLM server.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes/fake_llm_server.h"
#include "integration/porch_process.h"
#include "test_util.h"

namespace porch {
namespace {

using nlohmann::json;

json Rules() {
  json tasks = json::array(
      {{{"id", "html"}, {"title", "Markup"}, {"prompt", "Write index.html"}, {"depends_on", json::array()},
        {"outputs", {"index.html"}}},
       {{"id", "app"}, {"title", "App logic"}, {"prompt", "Write app.js"}, {"depends_on", {"html"}},
        {"outputs", {"app.js"}}}});
  return {{"rules",
           {{{"match", "How complex"},
             {"responses",
              {{{"tool_use",
                 {{"name", "report_complexity"},
                  {"input", {{"score", 3}, {"rationale", "small"}, {"recommended_tasks", 2}}}}}}}}},
            {{"match", "Plan it as"},
             {"responses", {{{"tool_use", {{"name", "submit_plan"}, {"input", {{"tasks", tasks}}}}}}}}}}}};
}

class PlanCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<FakeLlmServer>(server_dir_.path(), Rules());
    ASSERT_TRUE(server_->ok());
  }
  std::map<std::string, std::string> Env(const FakeLlmServer* server = nullptr) {
    return {{"ANTHROPIC_API_KEY", "sk-secret-do-not-store"},
            {"ANTHROPIC_BASE_URL", (server ? server : server_.get())->url()},
            {"PORCH_LLM_RETRY_BASE_SECONDS", "0.05"},
            {"PORCH_AGENT_CLAUDE_PATH", "/nonexistent/claude"}};
  }
  TempDir dir_, server_dir_;
  std::unique_ptr<FakeLlmServer> server_;
};

TEST_F(PlanCliTest, PlanWritesAValidatedPlanAndPrintsATable) {
  PorchRun r = RunPorch(dir_.path(), {"plan", "Build a todo list web app with local storage",
                                      "--plan-id", "todo"}, Env());
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("complexity 3/10: small"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("html"), std::string::npos);
  EXPECT_NE(r.out.find("app.js"), std::string::npos);
  EXPECT_NE(r.out.find("estimated cost $"), std::string::npos);
  std::string plan = dir_.path() + "/porch-runs/plans/todo/plan.json";
  PorchRun v = RunPorch(dir_.path(), {"validate", plan});
  EXPECT_EQ(v.exit_code, 0) << v.err;
  EXPECT_TRUE(PathExists(dir_.path() + "/porch-runs/plans/todo/planner/plan-1.txt"));
  json summary = json::parse(*ReadFile(dir_.path() + "/porch-runs/plans/todo/planner/summary.json"));
  EXPECT_EQ(summary["tasks"], 2);
  EXPECT_GT(summary["usage"]["output_tokens"].get<int>(), 0);
}

TEST_F(PlanCliTest, PlanWithBedrock) {
  auto env = Env();
  env.erase("ANTHROPIC_API_KEY");
  env["AWS_ACCESS_KEY_ID"] = "AKIDTEST";
  env["AWS_SECRET_ACCESS_KEY"] = "aws-secret-do-not-store";
  env["PORCH_LLM_BEDROCK_ENDPOINT"] = server_->url();
  PorchRun r = RunPorch(dir_.path(), {"plan", "Build a todo list web app with local storage",
                                      "--use-bedrock", "--json"}, env);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json j = json::parse(r.out);
  EXPECT_EQ(j["provider"], "bedrock");
  EXPECT_EQ(j["plan_tasks"].size(), 2u);
  EXPECT_EQ(server_->Posts()[0]["path"].get<std::string>().rfind("/model/global.anthropic.", 0), 0u);
}

TEST_F(PlanCliTest, MissingCredentialsAreAClearError) {
  PorchRun r = RunPorch(dir_.path(), {"plan", "x"}, {{"ANTHROPIC_API_KEY", ""}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("no Anthropic API key: looked at ANTHROPIC_API_KEY"), std::string::npos) << r.err;
  PorchRun b = RunPorch(dir_.path(), {"plan", "x", "--use-bedrock"},
                        {{"AWS_PROFILE", "none"}, {"HOME", dir_.path()}, {"AWS_ACCESS_KEY_ID", ""},
                         // (not this machine's own, should it be an EC2 instance)
                         {"AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9"}});
  EXPECT_EQ(b.exit_code, 2);
  EXPECT_NE(b.err.find("no AWS credentials found"), std::string::npos) << b.err;
  EXPECT_NE(b.err.find("the EC2 instance metadata service (no answer from http://127.0.0.1:9"), std::string::npos)
      << b.err;
  PorchRun n = RunPorch(dir_.path(), {"plan"}, Env());
  EXPECT_EQ(n.exit_code, 2);
  EXPECT_NE(n.err.find("no requirement given"), std::string::npos);
}

TEST_F(PlanCliTest, PlanningFailureExitsNonZeroWithTheReason) {
  server_.reset();
  FakeLlmServer down(server_dir_.path(), json{{"rules", {{{"responses", {{{"status", 529}}}}}}}});
  ASSERT_TRUE(down.ok());
  auto env = Env(&down);
  env["PORCH_LLM_MAX_ATTEMPTS"] = "2";
  PorchRun r = RunPorch(dir_.path(), {"plan", "x"}, env);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_NE(r.err.find("gave up after 2 attempts"), std::string::npos) << r.err;
}

TEST_F(PlanCliTest, RunRequirementPlansThenRunsAndKeepsNoSecret) {
  PorchRun r = RunPorch(dir_.path(), {"run", "Build a todo list web app with local storage",
                                      "--run-id", "req"}, Env());
  // The agents' CLI is pointed at nothing here: the planned tasks fail at once.
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  std::string run = dir_.path() + "/porch-runs/runs/req";
  EXPECT_TRUE(PathExists(run + "/plan.json"));
  EXPECT_TRUE(PathExists(run + "/planner/complexity.txt"));
  PorchRun s = RunPorch(dir_.path(), {"status", "req", "--json"});
  json st = json::parse(s.out);
  EXPECT_EQ(st["tasks"].size(), 2u);
  EXPECT_EQ(st["tasks"][0]["state"], "failed");
  EXPECT_EQ(st["tasks"][1]["state"], "skipped");
  PorchRun grep = RunPorch(dir_.path(), {"validate", run + "/plan.json"});
  EXPECT_EQ(grep.exit_code, 0);
  int rc = system(("grep -r -q sk-secret-do-not-store '" + run + "'").c_str());
  EXPECT_NE(rc, 0) << "the API key was written into the run directory";
}

}  // namespace
}  // namespace porch
