#include "web/dashboard.h"

#include <arpa/inet.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "model/result_file.h"
#include "model/run_layout.h"
#include "plan/validate.h"
#include "platform/clock.h"
#include "platform/files.h"
#include "report/metrics.h"
#include "report/svg.h"
#include "web/pages.h"

namespace porch {

using nlohmann::json;

namespace {

// Runs up to this many tasks are answered whole by /api/runs/<id> (the
// shape of metrics.json); larger ones a page at a time.
constexpr size_t kWholeRunTasks = 5000;
constexpr size_t kPageTasks = 500;
constexpr size_t kMaxPageTasks = 5000;
// An update carries at most this many changed tasks; beyond, the page
// reloads the rows it shows.
constexpr size_t kMaxChangedRows = 1000;
constexpr size_t kMaxTimelineTasks = 5000;
constexpr size_t kMaxDrawnNodes = 400;  // DagSvg's own limit
constexpr double kStreamIntervalSeconds = 1;
constexpr double kStreamPingSeconds = 15;
constexpr size_t kTailBytes = 4000;

std::string Tail(const std::string& path, size_t n) {
  Result<std::string> text = ReadFile(path);  // stdout is capped (limits.max_output_bytes)
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

std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

bool SameSecret(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

// The request's token: "Authorization: Bearer T" (any case) or ?token=T.
bool CarriesToken(const ServerRequest& req, const std::string& token) {
  auto q = req.query.find("token");
  if (q != req.query.end() && SameSecret(q->second, token)) return true;
  auto h = req.headers.find("authorization");
  if (h == req.headers.end() || h->second.size() < 7) return false;
  std::string scheme = h->second.substr(0, 7);
  for (char& c : scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return scheme == "bearer " && SameSecret(h->second.substr(7), token);
}

// The name in a Host header: "[::1]:8470" -> "::1", "127.0.0.1:80" -> "127.0.0.1".
std::string HostName(const std::string& host) {
  if (!host.empty() && host[0] == '[') return host.substr(1, host.find(']') - 1);
  const size_t colon = host.find(':');
  return colon != std::string::npos && host.find(':', colon + 1) == std::string::npos ? host.substr(0, colon)
                                                                                      : host;
}

ServerResponse Reply(const Result<std::string>& body, const char* type) {
  if (!body.ok()) {
    const Status::Code code = body.status().code();
    return ServerResponse::Error(code == Status::Code::kNotFound ? 404
                                 : code == Status::Code::kInvalidArgument ? 400 : 500,
                                 body.status().message());
  }
  ServerResponse r = ServerResponse::Json(200, *body);
  r.content_type = type;
  return r;
}

}  // namespace

bool IsLoopback(const std::string& host) {
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

Dashboard::Dashboard(DashboardOptions options) : options_(std::move(options)) {}

Dashboard::~Dashboard() { Stop(); }

std::string Dashboard::url() const {
  const bool v6 = options_.host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + options_.host + "]" : options_.host) + ":" + std::to_string(port_);
}

Result<std::shared_ptr<RunView>> Dashboard::View(const std::string& run_id) {
  if (Status st = CheckId(run_id, "run id"); !st.ok()) return st;
  const std::string dir = RunLayout::RunDir(options_.output_dir, run_id);
  RunLayout layout(dir);
  struct stat plan {};
  if (stat(layout.plan().c_str(), &plan) != 0) return Status::NotFound("no run '" + run_id + "'");
  const std::string identity = std::to_string(plan.st_dev) + ":" + std::to_string(plan.st_ino) + ":" +
                               std::to_string(plan.st_ctim.tv_sec) + "." + std::to_string(plan.st_ctim.tv_nsec);
  std::shared_ptr<RunView> view;
  {
    std::lock_guard<std::mutex> l(views_mu_);
    auto it = views_.find(run_id);
    if (it != views_.end() && it->second->plan_identity() == identity) view = it->second;
  }
  if (view) {
    PORCH_RETURN_IF_ERROR(view->Refresh());
    return view;
  }
  // Opened outside the lock: a large run takes a while, and other runs'
  // requests go on meanwhile.
  Result<std::unique_ptr<RunView>> opened = RunView::Open(dir);
  if (!opened.ok()) return opened.status();
  view = std::shared_ptr<RunView>(std::move(*opened));
  view->set_plan_identity(identity);
  std::lock_guard<std::mutex> l(views_mu_);
  views_[run_id] = view;
  return view;
}

Result<std::string> Dashboard::RunsJson() {
  json list = json::array();
  Result<std::vector<std::string>> names = ListDir(RunLayout::RunsDir(options_.output_dir));
  if (names.ok()) {
    for (auto it = names->rbegin(); it != names->rend(); ++it) {
      Result<std::shared_ptr<RunView>> view = View(*it);
      if (!view.ok() && view.status().code() == Status::Code::kNotFound) continue;
      if (!view.ok()) {
        list.push_back({{"run_id", *it}, {"outcome", "damaged"}, {"error", view.status().message()},
                        {"tasks", 0}, {"succeeded", 0}, {"failed", 0}, {"running", 0},
                        {"makespan_s", 0}, {"cost_usd", 0}, {"started_at", 0}, {"backend", ""}});
        continue;
      }
      json s = (*view)->Summary();
      list.push_back({{"run_id", *it},
                      {"outcome", s["outcome"]},
                      {"backend", s["backend"]},
                      {"tasks", s["tasks_total"]},
                      {"succeeded", s["succeeded"]},
                      {"failed", s["failed"]},
                      {"running", s["running"]},
                      {"makespan_s", s["makespan_s"]},
                      {"cost_usd", s["cost_usd"]},
                      {"started_at", s["started_at"]}});
    }
  }
  return Dump(list);
}

Result<std::string> Dashboard::RunJson(const std::string& run_id, int64_t offset, int64_t limit) {
  Result<std::shared_ptr<RunView>> view = View(run_id);
  if (!view.ok()) return view.status();
  const RunView& v = **view;
  if (offset < 0 && limit < 0 && v.size() <= kWholeRunTasks) {
    LoadedRun run = v.Snapshot();
    Dag dag(run.plan);
    json j = json::parse(MetricsToJson(
        ComputeMetrics(run.plan, dag, run.state, run.config.config.max_executors)));
    json deps = json::object();
    for (const Task& t : run.plan.tasks) deps[t.id] = t.depends_on;
    j["dependencies"] = deps;
    j["summary"] = v.Summary();
    return Dump(j);
  }
  const size_t from = static_cast<size_t>(std::max<int64_t>(offset, 0));
  const size_t count = limit < 0 ? kPageTasks : std::min<size_t>(static_cast<size_t>(limit), kMaxPageTasks);
  return Dump({{"summary", v.Summary()}, {"paged", true}, {"total", v.size()}, {"offset", from},
               {"tasks", v.Rows(from, count)}});
}

Result<std::string> Dashboard::TaskJson(const std::string& run_id, const std::string& task_id) {
  Result<std::shared_ptr<RunView>> view = View(run_id);
  if (!view.ok()) return view.status();
  const int64_t index = (*view)->IndexOf(task_id);
  if (index < 0) return Status::NotFound("run '" + run_id + "' has no task '" + task_id + "'");
  LoadedRun one = (*view)->TaskSnapshot(static_cast<size_t>(index));
  const Task& t = one.plan.tasks[0];
  Dag dag(one.plan);
  RunMetrics m = ComputeMetrics(one.plan, dag, one.state, one.config.config.max_executors);
  const TaskMetrics& tm = m.tasks[0];
  RunLayout layout(one.run_dir);
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
                        {"stdout_tail", Tail(layout.stdout_path(t.id, a.attempt), kTailBytes)},
                        {"stderr_tail", Tail(layout.stderr_path(t.id, a.attempt), kTailBytes)}});
  }
  return Dump({{"id", t.id},
               {"title", t.title},
               {"state", TaskStateName(tm.state)},
               {"kind", t.prompt.empty() ? "command" : "ai"},
               {"command", t.command},
               {"prompt", t.prompt},
               {"depends_on", (*view)->DependsOn(static_cast<size_t>(index))},
               {"outputs", t.outputs},
               {"skip_reason", tm.skip_reason},
               {"cost_usd", tm.cost_usd},
               {"tokens", tm.tokens},
               {"attempts", attempts}});
}

Result<std::string> Dashboard::Svg(const std::string& run_id, const std::string& kind) {
  Result<std::shared_ptr<RunView>> view = View(run_id);
  if (!view.ok()) return view.status();
  if (kind != "dag" && kind != "gantt") return Status::NotFound("no drawing '" + kind + "' (dag, gantt)");
  const size_t n = (*view)->size();
  if ((kind == "dag" && n > kMaxDrawnNodes) || (kind == "gantt" && n > kMaxTimelineTasks)) {
    return "<p class=\"note\">The run has " + std::to_string(n) + " tasks; the " +
           (kind == "dag" ? "graph is drawn for runs of up to " + std::to_string(kMaxDrawnNodes)
                          : "timeline is drawn for runs of up to " + std::to_string(kMaxTimelineTasks)) +
           " tasks. The report and the task table have every task.</p>";
  }
  LoadedRun run = (*view)->Snapshot();
  Dag dag(run.plan);
  RunMetrics m = ComputeMetrics(run.plan, dag, run.state, run.config.config.max_executors);
  return kind == "gantt" ? GanttSvg(m) : DagSvg(run.plan, dag, m, kMaxDrawnNodes);
}

ServerResponse Dashboard::Events(const std::string& run_id) {
  Result<std::shared_ptr<RunView>> view = View(run_id);
  if (!view.ok()) return Reply(view.status(), "application/json");
  struct Stream {
    std::shared_ptr<RunView> view;
    uint64_t sent_seq = 0;
    double last_sent = 0;
  };
  auto s = std::make_shared<Stream>();
  s->view = *view;
  s->sent_seq = s->view->seq();
  s->last_sent = MonotonicSeconds();
  // The first event: everything the page needs to draw (the first page of
  // tasks; the rest is fetched page by page).
  json first = {{"reset", true}, {"summary", s->view->Summary()}, {"total", s->view->size()},
                {"tasks", s->view->Rows(0, kPageTasks)}};
  ServerResponse r;
  r.content_type = "text/event-stream";
  r.body = "retry: 2000\n\nevent: update\ndata: " + Dump(first) + "\n\n";
  r.interval_s = kStreamIntervalSeconds;
  r.next = [s]() -> std::optional<std::string> {
    if (Status st = s->view->Refresh(); !st.ok()) {
      return "event: failure\ndata: " + Dump({{"error", st.message()}}) + "\n\n";
    }
    const double now = MonotonicSeconds();
    const uint64_t seq = s->view->seq();
    if (seq == s->sent_seq) {
      if (now - s->last_sent < kStreamPingSeconds) return std::string();
      s->last_sent = now;
      return std::string(": ping\n\n");  // keeps proxies from closing an idle stream
    }
    bool overflow = false;
    json update = {{"summary", s->view->Summary()},
                   {"tasks", s->view->ChangedSince(s->sent_seq, kMaxChangedRows, &overflow)},
                   {"overflow", overflow}};
    s->sent_seq = seq;
    s->last_sent = now;
    return "event: update\ndata: " + Dump(update) + "\n\n";
  };
  return r;
}

ServerResponse Dashboard::Handle(const ServerRequest& req) {
  const std::vector<std::string>& p = req.segments;
  auto html = [](std::string body) {
    ServerResponse r = ServerResponse::Json(200, std::move(body));
    r.content_type = "text/html; charset=utf-8";
    return r;
  };
  if (p.empty()) return html(RunsPage());
  if (p.size() == 2 && p[0] == "runs") return html(RunPage(p[1]));
  if (p[0] != "api" || p.size() < 2 || p[1] != "runs") return ServerResponse::Error(404, "no such page");
  if (p.size() == 2) return Reply(RunsJson(), "application/json");
  if (p.size() == 3) {
    auto number = [&](const char* key) -> int64_t {
      auto it = req.query.find(key);
      if (it == req.query.end()) return -1;
      char* end = nullptr;
      long long v = std::strtoll(it->second.c_str(), &end, 10);
      return end && *end == '\0' && v >= 0 ? v : -1;
    };
    return Reply(RunJson(p[2], number("offset"), number("limit")), "application/json");
  }
  if (p.size() == 4 && p[3] == "events") return Events(p[2]);
  if (p.size() == 5 && p[3] == "tasks") return Reply(TaskJson(p[2], p[4]), "application/json");
  if (p.size() == 5 && p[3] == "svg") return Reply(Svg(p[2], p[4]), "image/svg+xml");
  return ServerResponse::Error(404, "no such endpoint");
}

Status Dashboard::Start() {
  if (!IsLoopback(options_.host) && options_.token.empty()) {
    return Status::InvalidArgument("serving on '" + options_.host +
                                   "' needs a token (--token): only loopback is served without one");
  }
  HttpServerOptions o;
  o.host = options_.host;
  o.port = options_.port;
  const std::string token = options_.token;
  ServerGate gate = [token](const ServerRequest& req) -> std::optional<ServerResponse> {
    if (token.empty()) {
      // Loopback without a token: a page on another site that rebinds its
      // name to 127.0.0.1 still sends its own name as Host.
      auto host = req.headers.find("host");
      if (host == req.headers.end() || IsLoopback(HostName(host->second))) return std::nullopt;
      return ServerResponse::Error(403, "Host '" + host->second + "' is not this machine's loopback "
                                        "(use http://127.0.0.1:PORT, or --token)");
    }
    if (CarriesToken(req, token)) return std::nullopt;
    ServerResponse r = ServerResponse::Error(401, "a token is required");
    r.headers.push_back({"WWW-Authenticate", "Bearer"});
    return r;
  };
  server_ = std::make_unique<HttpServer>(o, gate, [this](const ServerRequest& req) { return Handle(req); });
  Status st = server_->Start();
  if (!st.ok()) {
    server_.reset();
    return st;
  }
  port_ = server_->port();
  return Status::Ok();
}

void Dashboard::Stop() {
  if (server_) server_->Stop();
  server_.reset();
}

}  // namespace porch
