// An HttpClient that records requests and answers from a script.
#pragma once

#include <deque>
#include <vector>

#include "platform/http.h"

namespace porch {

class RecordingHttpClient : public HttpClient {
 public:
  // Answers in order; when empty, answers 200 with an empty body.
  std::deque<Result<HttpResponse>> answers;
  std::vector<HttpRequest> requests;

  Result<HttpResponse> Send(const HttpRequest& req, const BodySink& sink = nullptr) override {
    requests.push_back(req);
    if (answers.empty()) return HttpResponse{200, {}, ""};
    Result<HttpResponse> r = answers.front();
    answers.pop_front();
    if (r.ok() && sink && r->status >= 200 && r->status < 300) {
      sink(r->body);
      r->body.clear();
    }
    return r;
  }
  static HttpResponse Answer(long status, std::string body) { return {status, {}, std::move(body)}; }
};

}  // namespace porch
