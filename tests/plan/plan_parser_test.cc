#include "plan/plan_parser.h"

#include <gtest/gtest.h>

namespace porch {
namespace {

TEST(PlanParserTest, ReadsEveryFieldFromYaml) {
  Result<Plan> plan = ParsePlan(R"(name: demo
requirements: build it
tasks:
  - id: a
    title: First
    command: echo a
    resources: {cpus: 2, memory: 4G, gpus: 1, time_limit: 10m}
    retries: 3
    outputs: [src/a.c]
  - id: b
    prompt: write b
    depends_on: [a]
    acceptance: make test
)",
                                "p.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  ASSERT_EQ(plan->tasks.size(), 2u);
  const Task& a = plan->tasks[0];
  EXPECT_EQ(plan->name, "demo");
  EXPECT_EQ(plan->requirements, "build it");
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.title, "First");
  EXPECT_EQ(a.command, "echo a");
  EXPECT_EQ(a.resources.cpus, 2);
  EXPECT_EQ(a.resources.memory_bytes, 4ull << 30);
  EXPECT_EQ(a.resources.gpus, 1);
  EXPECT_DOUBLE_EQ(a.resources.time_limit_s, 600);
  ASSERT_TRUE(a.retries.has_value());
  EXPECT_EQ(*a.retries, 3);
  EXPECT_EQ(a.outputs, std::vector<std::string>{"src/a.c"});
  EXPECT_EQ(a.line, 4);
  const Task& b = plan->tasks[1];
  EXPECT_EQ(b.prompt, "write b");
  EXPECT_EQ(b.depends_on, std::vector<std::string>{"a"});
  EXPECT_EQ(b.acceptance, "make test");
  EXPECT_EQ(b.line, 10);
}

TEST(PlanParserTest, JsonAndYamlGiveTheSamePlan) {
  Result<Plan> j = ParsePlan(R"({"tasks": [
  {"id": "a", "command": "true", "resources": {"memory": 512, "time_limit": "01:00:00"}},
  {"id": "b", "command": "true", "depends_on": ["a"]}
]})",
                             "p.json");
  Result<Plan> y = ParsePlan(R"(tasks:
  - {id: a, command: "true", resources: {memory: 512, time_limit: "01:00:00"}}
  - {id: b, command: "true", depends_on: [a]}
)",
                             "p.yaml");
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  ASSERT_TRUE(y.ok()) << y.status().ToString();
  EXPECT_EQ(PlanToJsonText(*j), PlanToJsonText(*y));
  EXPECT_EQ(j->tasks[0].resources.memory_bytes, 512ull << 20);
  EXPECT_DOUBLE_EQ(j->tasks[0].resources.time_limit_s, 3600);
  EXPECT_EQ(j->tasks[0].line, 2);
  EXPECT_EQ(j->tasks[1].line, 3);
}

TEST(PlanParserTest, JsonSyntaxErrorNamesFileAndLine) {
  Result<Plan> plan = ParsePlan("{\"tasks\": [\n  {\"id\": \"a\",\n   \"command\": }\n]}", "bad.json");
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), Status::Code::kInvalidArgument);
  EXPECT_NE(plan.status().message().find("bad.json:3: invalid JSON"), std::string::npos)
      << plan.status().message();
}

TEST(PlanParserTest, YamlSyntaxErrorNamesFileAndLine) {
  Result<Plan> plan = ParsePlan("tasks:\n  - id: a\n    command: [unclosed\n", "bad.yaml");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("bad.yaml:"), std::string::npos);
  EXPECT_NE(plan.status().message().find("invalid YAML"), std::string::npos);
}

TEST(PlanParserTest, UnknownFieldsAreErrorsWithLines) {
  Result<Plan> plan = ParsePlan(R"(tasks:
  - id: a
    command: x
    depends: [b]
  - id: b
    command: y
    resources: {cores: 2}
)",
                                "p.yaml");
  ASSERT_FALSE(plan.ok());
  const std::string& msg = plan.status().message();
  EXPECT_NE(msg.find("p.yaml:2: task 'a': unknown task field 'depends'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("p.yaml:5: task 'b': unknown resource 'cores'"), std::string::npos) << msg;
}

TEST(PlanParserTest, BadResourceValuesAreReported) {
  const char* cases[][2] = {
      {"cpus: -1", "'resources.cpus' must be an integer"},
      {"cpus: 1.5", "'resources.cpus' must be an integer"},
      {"gpus: 999", "'resources.gpus' must be an integer from 0 to 64"},
      {"memory: lots", "'resources.memory' must be a positive size"},
      {"memory: 0", "'resources.memory' must be a positive size"},
      {"time_limit: -5", "'resources.time_limit' must be a positive duration"},
      {"time_limit: soon", "'resources.time_limit' must be a positive duration"},
  };
  for (const auto& c : cases) {
    std::string text = std::string("tasks:\n  - id: a\n    command: x\n    resources: {") + c[0] + "}\n";
    Result<Plan> plan = ParsePlan(text, "r.yaml");
    ASSERT_FALSE(plan.ok()) << c[0];
    EXPECT_NE(plan.status().message().find(c[1]), std::string::npos)
        << c[0] << ": " << plan.status().message();
  }
}

TEST(PlanParserTest, RetriesMustBeASmallInteger) {
  Result<Plan> plan = ParsePlan("tasks:\n  - {id: a, command: x, retries: 1000}\n", "r.yaml");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("'retries' must be an integer from 0 to 100"),
            std::string::npos);
}

TEST(PlanParserTest, StructuralErrors) {
  EXPECT_NE(ParsePlan("- a\n- b\n", "x.yaml").status().message().find("must be a mapping"),
            std::string::npos);
  EXPECT_NE(ParsePlan("name: x\n", "x.yaml").status().message().find("no 'tasks' list"),
            std::string::npos);
  EXPECT_NE(ParsePlan("{\"tasks\": 3}", "x.json").status().message().find("'tasks' must be a list"),
            std::string::npos);
  EXPECT_NE(ParsePlan("{\"tasks\": [3]}", "x.json").status().message().find("a task must be a mapping"),
            std::string::npos);
  EXPECT_NE(ParsePlan("{\"taks\": []}", "x.json").status().message().find("unknown top-level field 'taks'"),
            std::string::npos);
}

TEST(PlanParserTest, QuotedYamlScalarsStayStrings) {
  Result<Plan> plan = ParsePlan("tasks:\n  - {id: '007', command: 'true'}\n  - {id: 8, command: x}\n", "q.yaml");
  ASSERT_TRUE(plan.ok()) << plan.status().ToString();
  EXPECT_EQ(plan->tasks[0].id, "007");
  EXPECT_EQ(plan->tasks[0].command, "true");
  EXPECT_EQ(plan->tasks[1].id, "8");
}

TEST(PlanParserTest, LoadPlanFileReportsMissingFile) {
  Result<Plan> plan = LoadPlanFile("/nonexistent/plan.yaml");
  ASSERT_FALSE(plan.ok());
  EXPECT_NE(plan.status().message().find("cannot open plan"), std::string::npos);
  EXPECT_NE(plan.status().message().find("/nonexistent/plan.yaml"), std::string::npos);
}

}  // namespace
}  // namespace porch
