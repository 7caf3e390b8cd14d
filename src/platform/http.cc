#include "platform/http.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>

namespace porch {

std::string HttpResponse::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (k == name) return v;
  }
  return "";
}

namespace {

struct Transfer {
  CURL* curl;
  const BodySink* sink;
  HttpResponse* response;
  bool aborted = false;          // the sink asked to stop
  std::string sink_exception;    // what the sink threw (the transfer stopped there)
};

// libcurl calls this from C: nothing may propagate out of it. A sink that
// throws ends the transfer, and Send() reports what it threw.
size_t OnBody(char* data, size_t size, size_t n, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->sink && *t->sink && status >= 200 && status < 300) {
    bool go_on = false;
    try {
      go_on = (*t->sink)(std::string_view(data, len));
    } catch (const std::exception& e) {
      t->sink_exception = e.what();
    } catch (...) {
      t->sink_exception = "an unknown exception";
    }
    if (!go_on) {
      t->aborted = true;
      return 0;
    }
  } else {
    t->response->body.append(data, len);
  }
  return len;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) noexcept {
  auto* t = static_cast<Transfer*>(user);
  size_t len = size * n;
  std::string line(data, len);
  if (line.rfind("HTTP/", 0) == 0) {
    t->response->headers.clear();  // a new response (after 100-continue or a redirect)
    return len;
  }
  size_t colon = line.find(':');
  if (colon == std::string::npos) return len;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string value = line.substr(colon + 1);
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  value.erase(value.begin(), std::find_if(value.begin(), value.end(), not_space));
  value.erase(std::find_if(value.rbegin(), value.rend(), not_space).base(), value.end());
  t->response->headers.emplace_back(std::move(name), std::move(value));
  return len;
}

}  // namespace

CurlHttpClient::CurlHttpClient() {
  static const bool initialised = [] { return curl_global_init(CURL_GLOBAL_DEFAULT) == 0; }();
  (void)initialised;
  curl_ = curl_easy_init();
}

CurlHttpClient::~CurlHttpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Result<HttpResponse> CurlHttpClient::Send(const HttpRequest& req, const BodySink& sink) {
  CURL* curl = static_cast<CURL*>(curl_);
  if (!curl) return Status::Internal("libcurl could not be initialised");
  curl_easy_reset(curl);
  HttpResponse response;
  Transfer t{curl, &sink, &response};
  curl_easy_setopt(curl, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  if (req.method == "HEAD") curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (!req.body.empty() || req.method == "POST" || req.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  }
  curl_slist* headers = nullptr;
  for (const auto& [k, v] : req.headers) headers = curl_slist_append(headers, (k + ": " + v).c_str());
  headers = curl_slist_append(headers, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(req.timeout_s * 1000));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(req.connect_timeout_s * 1000));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  if (!req.unix_socket.empty()) {
    curl_easy_setopt(curl, CURLOPT_UNIX_SOCKET_PATH, req.unix_socket.c_str());
  }
  CURLcode rc = curl_easy_perform(curl);
  curl_slist_free_all(headers);
  if (!t.sink_exception.empty()) {
    return Status::Unavailable(req.method + " " + req.url +
                               ": the answer could not be read: " + t.sink_exception);
  }
  if (rc != CURLE_OK && !(rc == CURLE_WRITE_ERROR && t.aborted)) {
    std::string what = curl_easy_strerror(rc);
    if (rc == CURLE_OPERATION_TIMEDOUT) {
      what = "no complete answer within " + std::to_string(static_cast<int>(req.timeout_s)) + "s";
    }
    return Status::Unavailable(req.method + " " + req.url + ": " + what);
  }
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

}  // namespace porch
