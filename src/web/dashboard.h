// The live dashboard: `porch serve` and `porch run --dashboard`.
//
// Serves the runs of an output directory over HTTP (web/http_server.h: one
// event loop for every connection, a few workers for the handlers), so it
// shows runs of other porch processes as they go, and finished ones; it
// never writes anything. Each run is read through a RunView
// (web/run_view.h) that parses the plan once and then only what the journal
// gained, so a 300,000-task run costs milliseconds per update. Pages: /
// (runs), /runs/<id> (cards, DAG, timeline, tasks; updated by a stream of
// Server-Sent Events carrying the tasks that changed), and a JSON API under
// /api (docs/dashboard.md). Every asset is served by porch itself.
//
// Binding to anything but loopback requires a token; requests then carry
// "Authorization: Bearer <token>" (scheme in any case) or "?token=<token>",
// checked before anything else is done for them.
//
// Threading: Start() starts the server's threads; handlers only read files.
// Stop() (or the destructor) stops it.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "core/status.h"
#include "web/http_server.h"
#include "web/run_view.h"

namespace porch {

struct DashboardOptions {
  std::string output_dir = "porch-runs";  // where runs/ lives
  std::string host = "127.0.0.1";
  int port = 8470;                        // 0: any free port
  std::string token;                      // required unless host is loopback
};

class Dashboard {
 public:
  explicit Dashboard(DashboardOptions options);
  ~Dashboard();

  // Binds and starts serving. InvalidArgument for a non-loopback host
  // without a token; Unavailable when the port cannot be bound.
  Status Start();
  void Stop();
  int port() const { return port_; }
  std::string url() const;
  HttpServerStats stats() const { return server_ ? server_->stats() : HttpServerStats{}; }

  // The API's answers, as the handlers produce them (for tests).
  Result<std::string> RunsJson();
  // `offset`/`limit` < 0: the whole run's metrics when it is small, else
  // the first page of its tasks (docs/dashboard.md).
  Result<std::string> RunJson(const std::string& run_id, int64_t offset = -1, int64_t limit = -1);
  Result<std::string> TaskJson(const std::string& run_id, const std::string& task_id);
  Result<std::string> Svg(const std::string& run_id, const std::string& kind);

 private:
  // The run's view, opened once and refreshed on each call.
  Result<std::shared_ptr<RunView>> View(const std::string& run_id);
  ServerResponse Handle(const ServerRequest& req);
  ServerResponse Events(const std::string& run_id);

  DashboardOptions options_;
  std::unique_ptr<HttpServer> server_;
  int port_ = 0;
  std::mutex views_mu_;
  std::map<std::string, std::shared_ptr<RunView>> views_;
};

// True for "localhost" and for addresses in 127.0.0.0/8 or ::1 (parsed, not
// matched as text: "127.evil.example" is not loopback).
bool IsLoopback(const std::string& host);

}  // namespace porch
