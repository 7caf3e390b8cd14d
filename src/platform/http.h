// The HTTP seam. LLM clients (and later Docker and S3) send requests through
// an HttpClient, so tests can record requests or talk to local fakes.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace porch {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  HttpHeaders headers;
  std::string body;
  double timeout_s = 300;         // whole request, including a streamed body
  double connect_timeout_s = 10;
  std::string unix_socket;        // connect through this socket instead of TCP
};

struct HttpResponse {
  long status = 0;
  HttpHeaders headers;            // names lower-cased
  std::string body;               // empty when the body was streamed to a callback

  // Value of header `name` (lower-case), or "".
  std::string Header(std::string_view name) const;
};

// Receives the body of a 2xx response as it arrives. Return false to abort.
using BodySink = std::function<bool(std::string_view chunk)>;

class HttpClient {
 public:
  virtual ~HttpClient() = default;
  // Sends `req` and waits for the answer. With `sink`, a 2xx body goes to the
  // sink instead of HttpResponse::body (other statuses are kept in body, for
  // error messages). Fails with Unavailable when no answer came (connection
  // refused, DNS, timeout: the message says which); an HTTP error status is a
  // successful Send with that status. Thread-compatible: one request at a time
  // per client.
  virtual Result<HttpResponse> Send(const HttpRequest& req, const BodySink& sink = nullptr) = 0;
};

// HttpClient over libcurl.
class CurlHttpClient : public HttpClient {
 public:
  CurlHttpClient();
  ~CurlHttpClient() override;
  Result<HttpResponse> Send(const HttpRequest& req, const BodySink& sink = nullptr) override;

 private:
  void* curl_;  // CURL*, reused so connections are kept alive
};

}  // namespace porch
