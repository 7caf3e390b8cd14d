#include "plan/validate.h"

#include <gtest/gtest.h>

#include "plan/plan_parser.h"

namespace porch {
namespace {

std::string Problems(const std::string& yaml) {
  Result<Plan> plan = ParsePlan(yaml, "v.yaml");
  if (!plan.ok()) return "PARSE: " + plan.status().message();
  Status st = ValidatePlan(*plan);
  return st.ok() ? "" : st.message();
}

TEST(ValidateTest, AcceptsAGoodPlan) {
  EXPECT_EQ(Problems("tasks:\n  - {id: a, command: x}\n  - {id: b, command: y, depends_on: [a]}\n"), "");
}

TEST(ValidateTest, EmptyPlan) {
  EXPECT_NE(Problems("tasks: []\n").find("the plan has no tasks"), std::string::npos);
}

TEST(ValidateTest, DuplicateIdsNameBothLines) {
  std::string p = Problems("tasks:\n  - {id: a, command: x}\n  - {id: a, command: y}\n");
  EXPECT_NE(p.find("v.yaml:3: duplicate task id 'a' (first defined on line 2)"), std::string::npos) << p;
}

TEST(ValidateTest, UnknownDependency) {
  std::string p = Problems("tasks:\n  - {id: a, command: x, depends_on: [ghost]}\n");
  EXPECT_NE(p.find("v.yaml:2: task 'a' depends on unknown task 'ghost'"), std::string::npos) << p;
}

TEST(ValidateTest, CycleIsPrinted) {
  std::string p = Problems(
      "tasks:\n  - {id: a, command: x, depends_on: [b]}\n  - {id: b, command: x, depends_on: [c]}\n"
      "  - {id: c, command: x, depends_on: [a]}\n  - {id: d, command: x}\n");
  EXPECT_NE(p.find("dependency cycle: a -> b -> c -> a"), std::string::npos) << p;
}

TEST(ValidateTest, SelfAndRepeatedDependencies) {
  std::string p = Problems("tasks:\n  - {id: a, command: x, depends_on: [a]}\n"
                           "  - {id: b, command: x, depends_on: [a, a]}\n");
  EXPECT_NE(p.find("task 'a' depends on itself"), std::string::npos) << p;
  EXPECT_NE(p.find("task 'b' lists dependency 'a' twice"), std::string::npos) << p;
}

TEST(ValidateTest, ExactlyOneOfPromptOrCommand) {
  std::string p = Problems("tasks:\n  - {id: a}\n  - {id: b, command: x, prompt: y}\n");
  EXPECT_NE(p.find("v.yaml:2: task 'a': set exactly one of 'prompt'"), std::string::npos) << p;
  EXPECT_NE(p.find("v.yaml:3: task 'b': set exactly one of 'prompt'"), std::string::npos) << p;
}

TEST(ValidateTest, BadOutputs) {
  std::string p = Problems(
      "tasks:\n  - {id: a, command: x, outputs: [/etc/passwd]}\n"
      "  - {id: b, command: x, outputs: [src/../../up]}\n"
      "  - {id: c, command: x, outputs: [lib/x.c]}\n"
      "  - {id: d, command: x, outputs: [lib/x.c]}\n");
  EXPECT_NE(p.find("output '/etc/passwd' is absolute"), std::string::npos) << p;
  EXPECT_NE(p.find("output 'src/../../up' contains '..'"), std::string::npos) << p;
  EXPECT_NE(p.find("task 'd': output 'lib/x.c' is already owned by task 'c'"), std::string::npos) << p;
}

TEST(ValidateTest, BadIds) {
  EXPECT_NE(Problems("tasks:\n  - {id: a/b, command: x}\n").find("contains '/'"), std::string::npos);
  EXPECT_NE(Problems("tasks:\n  - {id: '..', command: x}\n").find("is not allowed"), std::string::npos);
  EXPECT_NE(Problems("tasks:\n  - {id: '', command: x}\n").find("task id is empty"), std::string::npos);
  EXPECT_EQ(Problems("tasks:\n  - {id: \"odd id's $x\", command: x}\n"), "");
}

TEST(ValidateTest, AllProblemsAreReportedAtOnce) {
  std::string p = Problems("tasks:\n  - {id: a, command: x, depends_on: [zz]}\n  - {id: a, command: x}\n");
  EXPECT_NE(p.find("unknown task 'zz'"), std::string::npos);
  EXPECT_NE(p.find("duplicate task id"), std::string::npos);
}

}  // namespace
}  // namespace porch
