#include "report/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "report/html_report.h"
#include "report/svg.h"

namespace porch {
namespace {

// a (0-2s) -> c (2-5s); b (0-1s) independent; d failed after 1s; e skipped.
class MetricsTest : public ::testing::Test {
 protected:
  MetricsTest() {
    for (auto [id, deps] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"a", {}}, {"b", {}}, {"c", {"a"}}, {"d", {}}, {"e", {"d"}}}) {
      Task t;
      t.id = id;
      t.command = "true";
      t.depends_on = deps;
      plan_.tasks.push_back(t);
    }
    state_.run_id = "r1";
    state_.backend = "threading";
    state_.outcome = "failed";
    Attempt("a", 1, 100, 102, FailureReason::kNone);
    Attempt("b", 1, 100, 101, FailureReason::kNone);
    Attempt("c", 1, 102, 105, FailureReason::kNone);
    Attempt("d", 1, 101, 102, FailureReason::kExitCode);
    state_.tasks["e"].state = TaskState::kSkipped;
    state_.tasks["e"].skip_reason = "dependency 'd' failed";
  }

  void Attempt(const std::string& id, int n, double start, double end, FailureReason reason) {
    AttemptRecord a;
    a.number = n;
    a.launched_at = start;
    a.started_at = start;
    a.finished_at = end;
    a.finished = true;
    a.reason = reason;
    a.exit_code = reason == FailureReason::kNone ? 0 : 1;
    TaskRecord& t = state_.tasks[id];
    t.attempts.push_back(a);
    t.state = reason == FailureReason::kNone ? TaskState::kSucceeded : TaskState::kFailed;
  }

  Plan plan_;
  RunState state_;
};

TEST_F(MetricsTest, RunFigures) {
  Dag dag(plan_);
  RunMetrics m = ComputeMetrics(plan_, dag, state_, 2);
  EXPECT_DOUBLE_EQ(m.makespan, 5);
  EXPECT_DOUBLE_EQ(m.total_task_time, 2 + 1 + 3 + 1);
  EXPECT_DOUBLE_EQ(m.speedup, 7.0 / 5);
  EXPECT_DOUBLE_EQ(m.efficiency, 7.0 / 5 / 2);
  EXPECT_DOUBLE_EQ(m.critical_path, 5);
  EXPECT_EQ(m.critical_path_tasks, (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(m.succeeded, 3u);
  EXPECT_EQ(m.failed, 1u);
  EXPECT_EQ(m.skipped, 1u);
  EXPECT_EQ(m.slots_used, 2);  // d starts in the slot b left at t = 1
}

TEST_F(MetricsTest, SlotsNeverOverlap) {
  Dag dag(plan_);
  RunMetrics m = ComputeMetrics(plan_, dag, state_, 2);
  std::vector<const AttemptSpan*> spans;
  for (const auto& t : m.tasks) {
    for (const auto& a : t.attempts) spans.push_back(&a);
  }
  for (const auto* x : spans) {
    for (const auto* y : spans) {
      if (x == y || x->slot != y->slot) continue;
      EXPECT_TRUE(x->end <= y->start + 1e-9 || y->end <= x->start + 1e-9);
    }
  }
}

TEST_F(MetricsTest, JsonCarriesPerTaskAndRunFields) {
  Dag dag(plan_);
  nlohmann::json j = nlohmann::json::parse(MetricsToJson(ComputeMetrics(plan_, dag, state_, 2)));
  EXPECT_EQ(j["run"]["run_id"], "r1");
  EXPECT_EQ(j["run"]["tasks_total"], 5);
  EXPECT_DOUBLE_EQ(j["run"]["makespan_s"].get<double>(), 5);
  EXPECT_EQ(j["tasks"][3]["state"], "failed");
  EXPECT_EQ(j["tasks"][3]["exit_code"], 1);
  EXPECT_EQ(j["tasks"][4]["skip_reason"], "dependency 'd' failed");
  EXPECT_TRUE(j["tasks"][4]["exit_code"].is_null());
}

TEST_F(MetricsTest, ReportIsSelfContainedAndEscapes) {
  plan_.tasks[1].id = "b<script>";
  state_.tasks["b<script>"] = state_.tasks["b"];
  Dag dag(plan_);
  RunMetrics m = ComputeMetrics(plan_, dag, state_, 2);
  std::string html = RenderReport(plan_, dag, m);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("b&lt;script&gt;"), std::string::npos);
  EXPECT_EQ(html.find("src=\"http"), std::string::npos);
  EXPECT_EQ(html.find("href=\"http"), std::string::npos);
  EXPECT_NE(html.find("data-state=\"skipped\""), std::string::npos);
  EXPECT_NE(html.find(StateColour("failed")), std::string::npos);
}

TEST(SvgTest, LargeDagGetsANoteInsteadOfADrawing) {
  Plan plan;
  for (int i = 0; i < 10; ++i) {
    Task t;
    t.id = "t" + std::to_string(i);
    t.command = "x";
    plan.tasks.push_back(t);
  }
  Dag dag(plan);
  RunState state;
  RunMetrics m = ComputeMetrics(plan, dag, state, 1);
  EXPECT_NE(DagSvg(plan, dag, m, 5).find("drawn for plans of up to 5"), std::string::npos);
  EXPECT_NE(DagSvg(plan, dag, m, 50).find("<svg"), std::string::npos);
}

// 20,000 back-to-back attempts on 4 slots: the timeline draws busy blocks
// (a few per slot), and metrics.json holds one line per task; both stay
// small, and the JSON is whole.
TEST(SvgTest, ALargeRunIsDrawnAsBusyBlocksAndItsMetricsAreOneLinePerTask) {
  RunMetrics m;
  m.slots_used = 4;
  m.makespan = 100;
  for (int i = 0; i < 20000; ++i) {
    TaskMetrics t;
    t.id = "t" + std::to_string(i);
    AttemptSpan a;
    a.attempt = 1;
    a.slot = i % 4;
    a.start = (i / 4) * 0.02;
    a.end = a.start + 0.02;
    a.outcome = i == 777 ? "exit_code" : "ok";
    t.attempts.push_back(a);
    m.tasks.push_back(t);
  }
  std::string svg = GanttSvg(m);
  EXPECT_LT(svg.size(), 20000u);
  EXPECT_EQ(svg.find("data-task="), std::string::npos);  // no bar per attempt
  EXPECT_NE(svg.find("attempts ok"), std::string::npos);
  EXPECT_NE(svg.find("1 attempt exit_code"), std::string::npos);  // the failure stays visible
  std::string text = MetricsToJson(m);
  nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_EQ(j["tasks"].size(), 20000u);
  EXPECT_EQ(j["tasks"][777]["attempt_details"][0]["outcome"], "exit_code");
  EXPECT_LT(std::count(text.begin(), text.end(), '\n'), 20100);
}

}  // namespace
}  // namespace porch
