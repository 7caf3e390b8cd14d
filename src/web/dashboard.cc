#include "web/dashboard.h"

#include <httplib.h>

#include <nlohmann/json.hpp>

#include "model/result_file.h"
#include "platform/files.h"
#include "report/metrics.h"
#include "report/svg.h"
#include "model/run_layout.h"
#include "run/runner.h"
#include "web/pages.h"

namespace porch {

using nlohmann::json;

bool IsLoopback(const std::string& host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

Dashboard::Dashboard(DashboardOptions options) : options_(std::move(options)) {}

Dashboard::~Dashboard() { Stop(); }

std::string Dashboard::url() const {
  return "http://" + options_.host + ":" + std::to_string(port_);
}

Result<std::string> Dashboard::RunDir(const std::string& run_id) const {
  if (run_id.empty() || run_id.find('/') != std::string::npos || run_id == "." || run_id == "..") {
    return Status::InvalidArgument("bad run id '" + run_id + "'");
  }
  std::string dir = RunLayout::RunDir(options_.output_dir, run_id);
  if (!PathExists(RunLayout(dir).journal())) return Status::NotFound("no run '" + run_id + "'");
  return dir;
}

namespace {

Result<std::pair<LoadedRun, RunMetrics>> Load(const std::string& dir) {
  Result<LoadedRun> run = LoadRun(dir);
  if (!run.ok()) return run.status();
  Dag dag(run->plan);
  RunMetrics m = ComputeMetrics(run->plan, dag, run->state, run->config.config.max_executors);
  return std::make_pair(std::move(*run), std::move(m));
}

std::string Tail(const std::string& path, size_t n) {
  Result<std::string> text = ReadFile(path);
  if (!text.ok()) return "";
  return text->size() > n ? text->substr(text->size() - n) : *text;
}

// An AI attempt's live progress (progress.json), or null.
json Progress(const std::string& attempt_dir) {
  Result<std::string> text = ReadFile(attempt_dir + "/progress.json");
  if (!text.ok()) return nullptr;
  json p = json::parse(*text, nullptr, false);
  return p.is_object() ? p : json(nullptr);
}

}  // namespace

Result<std::string> Dashboard::RunsJson() const {
  json list = json::array();
  Result<std::vector<std::string>> names = ListDir(RunLayout::RunsDir(options_.output_dir));
  if (names.ok()) {
    for (auto it = names->rbegin(); it != names->rend(); ++it) {
      std::string dir = RunLayout::RunDir(options_.output_dir, *it);
      if (!PathExists(RunLayout(dir).journal())) continue;
      auto loaded = Load(dir);
      if (!loaded.ok()) continue;
      const RunMetrics& m = loaded->second;
      size_t running = 0;
      for (const TaskMetrics& t : m.tasks) running += t.state == TaskState::kRunning;
      list.push_back({{"run_id", *it},
                      {"outcome", m.outcome},
                      {"backend", m.backend},
                      {"tasks", m.tasks.size()},
                      {"succeeded", m.succeeded},
                      {"failed", m.failed},
                      {"running", running},
                      {"makespan_s", m.makespan},
                      {"cost_usd", m.cost_usd},
                      {"started_at", m.started_at}});
    }
  }
  return list.dump();
}

Result<std::string> Dashboard::RunJson(const std::string& run_id) const {
  Result<std::string> dir = RunDir(run_id);
  if (!dir.ok()) return dir.status();
  auto loaded = Load(*dir);
  if (!loaded.ok()) return loaded.status();
  json j = json::parse(MetricsToJson(loaded->second));
  json deps = json::object();
  for (const Task& t : loaded->first.plan.tasks) deps[t.id] = t.depends_on;
  j["dependencies"] = deps;
  return j.dump();
}

Result<std::string> Dashboard::TaskJson(const std::string& run_id, const std::string& task_id) const {
  Result<std::string> dir = RunDir(run_id);
  if (!dir.ok()) return dir.status();
  auto loaded = Load(*dir);
  if (!loaded.ok()) return loaded.status();
  const Plan& plan = loaded->first.plan;
  for (size_t i = 0; i < plan.tasks.size(); ++i) {
    if (plan.tasks[i].id != task_id) continue;
    const Task& t = plan.tasks[i];
    const TaskMetrics& tm = loaded->second.tasks[i];
    RunLayout layout(*dir);
    json attempts = json::array();
    for (const AttemptSpan& a : tm.attempts) {
      json files = json::array();
      Result<AttemptResult> r = ReadAttemptResult(layout.result_path(t.id, a.attempt));
      if (r.ok()) {
        for (const FileDigest& f : r->files) files.push_back({{"path", f.path}, {"size", f.size}});
      }
      attempts.push_back({{"attempt", a.attempt},
                          {"outcome", a.outcome},
                          {"exit_code", a.exit_code},
                          {"job_id", a.job_id},
                          {"duration_s", a.end - a.start},
                          {"detail", a.detail},
                          {"cost_usd", a.cost_usd},
                          {"tokens", a.tokens},
                          {"files", files},
                          {"progress", Progress(layout.attempt_dir(t.id, a.attempt))},
                          {"stdout_tail", Tail(layout.stdout_path(t.id, a.attempt), 4000)},
                          {"stderr_tail", Tail(layout.stderr_path(t.id, a.attempt), 4000)}});
    }
    return json({{"id", t.id},
                 {"title", t.title},
                 {"state", TaskStateName(tm.state)},
                 {"kind", t.prompt.empty() ? "command" : "ai"},
                 {"command", t.command},
                 {"prompt", t.prompt},
                 {"depends_on", t.depends_on},
                 {"outputs", t.outputs},
                 {"skip_reason", tm.skip_reason},
                 {"cost_usd", tm.cost_usd},
                 {"tokens", tm.tokens},
                 {"attempts", attempts}})
        .dump(-1, ' ', false, json::error_handler_t::replace);
  }
  return Status::NotFound("run '" + run_id + "' has no task '" + task_id + "'");
}

Result<std::string> Dashboard::Svg(const std::string& run_id, const std::string& kind) const {
  Result<std::string> dir = RunDir(run_id);
  if (!dir.ok()) return dir.status();
  auto loaded = Load(*dir);
  if (!loaded.ok()) return loaded.status();
  if (kind == "gantt") return GanttSvg(loaded->second);
  if (kind == "dag") {
    Dag dag(loaded->first.plan);
    return DagSvg(loaded->first.plan, dag, loaded->second);
  }
  return Status::NotFound("no drawing '" + kind + "' (dag, gantt)");
}

Status Dashboard::Start() {
  if (!IsLoopback(options_.host) && options_.token.empty()) {
    return Status::InvalidArgument("serving on '" + options_.host +
                                   "' needs a token (--token): only loopback is served without one");
  }
  server_ = std::make_unique<httplib::Server>();
  httplib::Server& s = *server_;
  const std::string token = options_.token;
  s.set_pre_routing_handler([token](const httplib::Request& req, httplib::Response& res) {
    if (token.empty()) return httplib::Server::HandlerResponse::Unhandled;
    std::string auth = req.get_header_value("Authorization");
    if (auth == "Bearer " + token || req.get_param_value("token") == token) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    res.status = 401;
    res.set_content("{\"error\":\"a token is required\"}", "application/json");
    return httplib::Server::HandlerResponse::Handled;
  });
  auto reply = [](httplib::Response& res, const Result<std::string>& body, const char* type) {
    if (body.ok()) {
      res.set_content(*body, type);
      res.set_header("Cache-Control", "no-store");
      return;
    }
    res.status = body.status().code() == Status::Code::kNotFound ? 404 : 400;
    res.set_content(json({{"error", body.status().message()}}).dump(), "application/json");
  };
  s.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(RunsPage(), "text/html; charset=utf-8");
  });
  s.Get(R"(/runs/([^/]+))", [](const httplib::Request& req, httplib::Response& res) {
    res.set_content(RunPage(req.matches[1]), "text/html; charset=utf-8");
  });
  s.Get("/api/runs", [this, reply](const httplib::Request&, httplib::Response& res) {
    reply(res, RunsJson(), "application/json");
  });
  s.Get(R"(/api/runs/([^/]+))", [this, reply](const httplib::Request& req, httplib::Response& res) {
    reply(res, RunJson(req.matches[1]), "application/json");
  });
  s.Get(R"(/api/runs/([^/]+)/tasks/([^/]+))",
        [this, reply](const httplib::Request& req, httplib::Response& res) {
          reply(res, TaskJson(req.matches[1], req.matches[2]), "application/json");
        });
  s.Get(R"(/api/runs/([^/]+)/svg/(dag|gantt))",
        [this, reply](const httplib::Request& req, httplib::Response& res) {
          reply(res, Svg(req.matches[1], req.matches[2]), "image/svg+xml");
        });
  if (options_.port == 0) {
    port_ = s.bind_to_any_port(options_.host);
  } else {
    port_ = s.bind_to_port(options_.host, options_.port) ? options_.port : -1;
  }
  if (port_ <= 0) {
    return Status::Unavailable("cannot listen on " + options_.host + ":" +
                               std::to_string(options_.port) + " (in use? try --port 0)");
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return Status::Ok();
}

void Dashboard::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace porch
