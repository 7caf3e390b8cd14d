// A small HTTP/1.1 server for the dashboard, built for many idle clients
// and for hostile ones.
//
// Why not a thread per connection (cpp-httplib's model, which porch used
// before): a browser tab polling with keep-alive holds a thread while it
// idles, so 100 tabs starved an 8-thread pool, and a client that sends one
// header line every 2 s held a thread for as long as it liked. Here one
// thread runs an epoll loop that owns every connection (an idle client
// costs a descriptor and a small buffer), and a few worker threads run the
// handlers, so a slow handler never delays reading or writing others.
//
// Bounds, each enforced by the loop:
//   - a request's head (request line and headers) must arrive whole within
//     `header_timeout_s` of its first byte, and a new connection must start
//     one within that time: a slowloris client is cut off, token or not;
//   - a keep-alive connection may idle `idle_timeout_s` between requests;
//   - a client must take its answer within `write_timeout_s`;
//   - heads are at most `max_header_bytes`; request bodies are refused
//     (the dashboard only serves GET);
//   - at most `max_connections` are open, and at most half the descriptors
//     the process may open (RLIMIT_NOFILE), so clients never take the run's;
//     beyond that a connection gets 503 and is closed at once;
//   - a client that half-closes (FIN) still gets the answer to a request it
//     finished sending; repeated Content-Length / Transfer-Encoding is 400.
// The gate runs on the loop thread as soon as a head is parsed, before any
// handler: a request without the token costs nothing else.
//
// Streams (Server-Sent Events): a response with `next` set keeps the
// connection; `next` is called on a worker every `interval_s` and what it
// returns is sent. The stream ends when `next` returns nullopt or the
// client goes away.
//
// Threading: Start() starts the loop thread and the workers; the gate runs
// on the loop thread, handlers and stream functions on workers (several at
// once: they must be thread-safe). Stop() (or the destructor) closes every
// connection and joins the threads; handlers running then finish first.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace porch {

struct HttpServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  // 0: any free port
  int workers = 4;
  size_t max_connections = 4096;
  double header_timeout_s = 10;
  double idle_timeout_s = 75;
  double write_timeout_s = 30;
  size_t max_header_bytes = 16 * 1024;
};

struct ServerRequest {
  std::string method;
  std::string target;                          // as sent
  std::vector<std::string> segments;           // the path split at '/', each percent-decoded
  std::map<std::string, std::string> query;    // decoded
  std::map<std::string, std::string> headers;  // names in lower case
};

struct ServerResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set for a stream: called every `interval_s` after the body is sent.
  std::function<std::optional<std::string>()> next;
  double interval_s = 1;

  static ServerResponse Json(int status, std::string body);
  static ServerResponse Error(int status, const std::string& message);
};

using ServerHandler = std::function<ServerResponse(const ServerRequest&)>;
// Returns a response to refuse the request with, or nullopt to let it pass.
using ServerGate = std::function<std::optional<ServerResponse>(const ServerRequest&)>;

struct HttpServerStats {
  uint64_t accepted = 0;
  uint64_t refused_full = 0;  // over max_connections
  uint64_t timed_out = 0;     // header, idle or write timeout
  uint64_t requests = 0;
  size_t open = 0;
};

class HttpServer {
 public:
  HttpServer(HttpServerOptions options, ServerGate gate, ServerHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving. Unavailable when the address cannot be bound.
  Status Start();
  void Stop();
  int port() const { return port_; }
  HttpServerStats stats() const;

  class Impl;

 private:
  HttpServerOptions options_;
  ServerGate gate_;
  ServerHandler handler_;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

// Splits and decodes a request target ("/a/b%20c?x=1&y=%2F"). False for a
// malformed one: bad percent escapes, a NUL anywhere, no leading '/'.
bool ParseTarget(const std::string& target, std::vector<std::string>* segments,
                 std::map<std::string, std::string>* query);

// Parses a request head (request line and headers, without the blank line
// that ends it) into `req`. Returns 0 when it is good, else the status to
// refuse it with (400 malformed, 413 a body, 431 too many headers).
int ParseRequestHead(std::string_view head, ServerRequest* req, bool* keep_alive);

}  // namespace porch
