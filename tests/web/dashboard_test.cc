// The dashboard's HTTP API over real HTTP, against a run driven by the fake
// backend on a fake clock.
#include "web/dashboard.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "fakes/fake_run.h"
#include "platform/files.h"
#include "platform/http.h"
#include "run/runner.h"
#include "test_util.h"
#include "web/raw_client.h"

namespace porch {
namespace {

using nlohmann::json;

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (auto [id, deps] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"a", {}}, {"b", {"a"}}, {"c", {"a"}}, {"bad", {}}, {"after-bad", {"bad"}}}) {
      Task t;
      t.id = id;
      t.title = "task " + id;
      t.command = "true";
      t.depends_on = deps;
      t.retries = 0;
      plan_.tasks.push_back(t);
    }
    Result<RunOutcome> out = RunOnFakeBackend(plan_, dir_.path(), "r1", [](FakeBackend& b) {
      b.Script("bad", {{2.0, 3, FailureReason::kExitCode}});
    });
    ASSERT_TRUE(out.ok()) << out.status().ToString();
  }

  Result<HttpResponse> Get(const std::string& url, HttpHeaders headers = {}) {
    HttpRequest req;
    req.url = url;
    req.headers = std::move(headers);
    return http_.Send(req);
  }

  TempDir dir_;
  Plan plan_;
  CurlHttpClient http_;
};

TEST_F(DashboardTest, ApiServesRunsRunsAndTasks) {
  Dashboard d({dir_.path(), "127.0.0.1", 0, ""});
  ASSERT_TRUE(d.Start().ok());
  auto runs = Get(d.url() + "/api/runs");
  ASSERT_TRUE(runs.ok());
  EXPECT_EQ(runs->status, 200);
  json list = json::parse(runs->body);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["run_id"], "r1");
  EXPECT_EQ(list[0]["backend"], "fake");
  EXPECT_EQ(list[0]["succeeded"], 3);
  EXPECT_EQ(list[0]["failed"], 1);

  auto run = Get(d.url() + "/api/runs/r1");
  ASSERT_TRUE(run.ok());
  json m = json::parse(run->body);
  EXPECT_EQ(m["run"]["tasks_total"], 5);
  EXPECT_EQ(m["dependencies"]["b"], json::array({"a"}));
  EXPECT_EQ(m["tasks"][4]["state"], "skipped");

  auto task = Get(d.url() + "/api/runs/r1/tasks/bad");
  ASSERT_TRUE(task.ok());
  json t = json::parse(task->body);
  EXPECT_EQ(t["state"], "failed");
  EXPECT_EQ(t["attempts"][0]["exit_code"], 3);
  EXPECT_EQ(t["attempts"][0]["job_id"].get<std::string>().rfind("fake-", 0), 0u);

  auto dag = Get(d.url() + "/api/runs/r1/svg/dag");
  ASSERT_TRUE(dag.ok());
  EXPECT_EQ(dag->Header("content-type"), "image/svg+xml");
  for (const Task& task_def : plan_.tasks) {
    EXPECT_NE(dag->body.find("data-task=\"" + task_def.id + "\""), std::string::npos) << task_def.id;
  }
  auto gantt = Get(d.url() + "/api/runs/r1/svg/gantt");
  EXPECT_NE(gantt->body.find("<svg class=\"gantt\""), std::string::npos);

  EXPECT_EQ(Get(d.url() + "/api/runs/nope")->status, 404);
  EXPECT_EQ(Get(d.url() + "/api/runs/r1/tasks/nope")->status, 404);
  auto page = Get(d.url() + "/runs/r1");
  EXPECT_EQ(page->status, 200);
  EXPECT_NE(page->body.find("/api/runs/"), std::string::npos);
  EXPECT_EQ(page->body.find("src=\"http"), std::string::npos);  // no assets from the network
  EXPECT_NE(Get(d.url() + "/")->body.find("porch runs"), std::string::npos);
}

TEST_F(DashboardTest, TokenIsEnforcedAndRequiredOffLoopback) {
  Dashboard open({dir_.path(), "0.0.0.0", 0, ""});
  Status st = open.Start();
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("needs a token"), std::string::npos);

  Dashboard d({dir_.path(), "127.0.0.1", 0, "s3cret"});
  ASSERT_TRUE(d.Start().ok());
  EXPECT_EQ(Get(d.url() + "/api/runs")->status, 401);
  EXPECT_EQ(Get(d.url() + "/api/runs?token=s3cret")->status, 200);
  EXPECT_EQ(Get(d.url() + "/api/runs", {{"Authorization", "Bearer s3cret"}})->status, 200);
  EXPECT_EQ(Get(d.url() + "/api/runs", {{"Authorization", "bearer s3cret"}})->status, 200);
  EXPECT_EQ(Get(d.url() + "/api/runs", {{"Authorization", "Bearer s3cre"}})->status, 401);
  EXPECT_EQ(Get(d.url() + "/api/runs", {{"Authorization", "Basic s3cret"}})->status, 401);
  EXPECT_EQ(Get(d.url() + "/api/runs?token=s3cret%00")->status, 400);
  // Pages keep the token in every link they make.
  std::string runs_page = Get(d.url() + "/?token=s3cret")->body;
  EXPECT_NE(runs_page.find("withToken("), std::string::npos);
  std::string run_page = Get(d.url() + "/runs/r1?token=s3cret")->body;
  EXPECT_NE(run_page.find("withToken('/')"), std::string::npos);
  // A stream needs the token too.
  RawClient c(d.port());
  c.Send(RawGet("/api/runs/r1/events"));
  EXPECT_EQ(c.ReadUntil("\r\n\r\n").rfind("HTTP/1.1 401", 0), 0u);
}

// Without a token, only requests that name this machine's loopback are
// served: a page whose name was rebound to 127.0.0.1 sends its own name.
TEST_F(DashboardTest, OtherHostNamesAreRefusedWithoutAToken) {
  Dashboard d({dir_.path(), "127.0.0.1", 0, ""});
  ASSERT_TRUE(d.Start().ok());
  for (const char* host : {"evil.example", "evil.example:8470", "127.0.0.1.evil.example"}) {
    RawClient c(d.port());
    c.Send("GET /api/runs HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n");
    EXPECT_EQ(c.ReadResponse().rfind("HTTP/1.1 403", 0), 0u) << host;
  }
  for (const char* host : {"127.0.0.1", "localhost:8470", "[::1]:8470", "127.0.0.1:1"}) {
    RawClient c(d.port());
    c.Send("GET /api/runs HTTP/1.1\r\nHost: " + std::string(host) + "\r\n\r\n");
    EXPECT_EQ(c.ReadResponse().rfind("HTTP/1.1 200", 0), 0u) << host;
  }
}

// Ids are checked after decoding: a NUL or a path never reaches the disk.
TEST_F(DashboardTest, EncodedIdsCannotReachOtherFiles) {
  ASSERT_TRUE(WriteFileAtomic(dir_.path() + "/runs/canary.txt", "secret").ok());
  Dashboard d({dir_.path(), "127.0.0.1", 0, ""});
  ASSERT_TRUE(d.Start().ok());
  EXPECT_EQ(Get(d.url() + "/api/runs/canary.txt%00")->status, 400);
  EXPECT_EQ(Get(d.url() + "/api/runs/canary.txt")->status, 404);
  EXPECT_EQ(Get(d.url() + "/api/runs/%ff")->status, 404);
  EXPECT_EQ(Get(d.url() + "/api/runs/%2E%2E")->status, 400);
  EXPECT_EQ(Get(d.url() + "/api/runs/r1%2F..%2F..")->status, 400);
  EXPECT_EQ(Get(d.url() + "/api/runs/r1/tasks/a%2F..")->status, 404);
  EXPECT_EQ(Get(d.url() + "/api/runs/r1")->status, 200);
}

TEST_F(DashboardTest, RunsArePagedOnRequest) {
  Dashboard d({dir_.path(), "127.0.0.1", 0, ""});
  ASSERT_TRUE(d.Start().ok());
  json whole = json::parse(Get(d.url() + "/api/runs/r1")->body);
  EXPECT_EQ(whole["summary"]["tasks_total"], 5);
  EXPECT_EQ(whole["summary"]["succeeded"], 3);
  EXPECT_EQ(whole["summary"]["skipped"], 1);
  EXPECT_FALSE(whole.contains("paged"));
  // The summary kept as records arrive agrees with the metrics read whole.
  EXPECT_DOUBLE_EQ(whole["summary"]["started_at"].get<double>(), whole["run"]["started_at"].get<double>());
  EXPECT_NEAR(whole["summary"]["makespan_s"].get<double>(), whole["run"]["makespan_s"].get<double>(), 1e-6);
  json page = json::parse(Get(d.url() + "/api/runs/r1?offset=1&limit=2")->body);
  EXPECT_EQ(page["paged"], true);
  EXPECT_EQ(page["total"], 5);
  EXPECT_EQ(page["offset"], 1);
  ASSERT_EQ(page["tasks"].size(), 2u);
  EXPECT_EQ(page["tasks"][0]["id"], "b");
  EXPECT_EQ(page["tasks"][1]["id"], "c");
  EXPECT_EQ(page["summary"]["failed"], 1);
  EXPECT_TRUE(json::parse(Get(d.url() + "/api/runs/r1?offset=99")->body)["tasks"].empty());
}

// The live page's stream: a first event with everything to draw, then only
// the tasks that changed.
TEST_F(DashboardTest, EventsStreamTheRunAndThenItsChanges) {
  Dashboard d({dir_.path(), "127.0.0.1", 0, ""});
  ASSERT_TRUE(d.Start().ok());
  RawClient c(d.port());
  c.Send(RawGet("/api/runs/r1/events"));
  std::string got = c.ReadUntil("\n\n", 5);
  got = c.ReadUntil("}\n\n", 5);
  EXPECT_NE(got.find("Content-Type: text/event-stream"), std::string::npos) << got;
  size_t data = got.find("event: update\ndata: ");
  ASSERT_NE(data, std::string::npos) << got;
  std::string first = got.substr(data + 20);
  json event = json::parse(first.substr(0, first.find("\n\n")));
  EXPECT_EQ(event["reset"], true);
  EXPECT_EQ(event["total"], 5);
  EXPECT_EQ(event["tasks"].size(), 5u);
  EXPECT_EQ(event["summary"]["failed"], 1);
  // The run is resumed by hand: a journal record arrives, and the stream
  // carries that task alone.
  c.Clear();
  const std::string journal = RunLayout(RunLayout::RunDir(dir_.path(), "r1")).journal();
  std::string text = *ReadFile(journal);
  ASSERT_TRUE(WriteFileAtomic(journal, text).ok());  // same bytes, new inode: read again
  got = c.ReadUntil("}\n\n", 5);
  data = got.find("event: update\ndata: ");
  ASSERT_NE(data, std::string::npos) << got;
  std::string second = got.substr(data + 20);
  json update = json::parse(second.substr(0, second.find("\n\n")));
  EXPECT_FALSE(update.contains("reset"));
  EXPECT_EQ(update["overflow"], false);
  EXPECT_EQ(update["tasks"].size(), 5u);
  EXPECT_EQ(update["summary"]["succeeded"], 3);
}

}  // namespace
}  // namespace porch
