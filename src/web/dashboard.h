// The live dashboard: `porch serve` and `porch run --dashboard`.
//
// A small HTTP server (cpp-httplib) that reads run directories (plan,
// journal, attempt files) on every request, so it shows runs in progress in
// other porch processes as well as finished ones; it never writes anything.
// Pages: / (runs), /runs/<id> (DAG, timeline, tasks; polls the API so it
// updates live), and a JSON API under /api (docs/dashboard.md). The DAG and
// timeline come from report/svg.h, the same code as report.html. Every asset
// is served by porch itself.
//
// Binding to anything but loopback requires a token; requests then carry
// "Authorization: Bearer <token>" or "?token=<token>".
//
// Threading: Start() runs the server on a thread of its own; handlers only
// read files. Stop() (or the destructor) stops it.
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "core/status.h"

namespace httplib {
class Server;
}

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

  // The API's answers, as the handlers produce them (for tests).
  Result<std::string> RunsJson() const;
  Result<std::string> RunJson(const std::string& run_id) const;
  Result<std::string> TaskJson(const std::string& run_id, const std::string& task_id) const;
  Result<std::string> Svg(const std::string& run_id, const std::string& kind) const;

 private:
  Result<std::string> RunDir(const std::string& run_id) const;
  DashboardOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

bool IsLoopback(const std::string& host);

}  // namespace porch
