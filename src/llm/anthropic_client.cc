#include "llm/anthropic_client.h"

#include "llm/stream.h"
#include "model/json_fields.h"

namespace porch {

using nlohmann::json;

AnthropicClient::AnthropicClient(HttpClient* http, Clock* clock, AnthropicOptions options)
    : http_(http), clock_(clock), options_(std::move(options)), rng_(std::random_device{}()) {}

json AnthropicClient::Body(const LlmRequest& r, const std::string& model) {
  json body = {{"model", r.model.empty() ? model : r.model},
               {"max_tokens", r.max_tokens},
               {"messages", r.messages}};
  if (!r.system.empty()) body["system"] = r.system;
  if (!r.tools.empty()) body["tools"] = r.tools;
  if (!r.tool_choice.is_null()) body["tool_choice"] = r.tool_choice;
  if (r.stream) body["stream"] = true;
  return body;
}

Result<LlmResponse> ParseMessage(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (JsonString(j, "type") != "message" || !j.contains("content") ||
      !j["content"].is_array()) {
    return Status::Unavailable("the answer is not a Messages API message: " + body.substr(0, 200));
  }
  LlmResponse r;
  r.id = JsonString(j, "id");
  r.model = JsonString(j, "model");
  r.stop_reason = JsonString(j, "stop_reason");
  r.content = j["content"];
  if (j.contains("usage")) r.usage = Usage::FromJson(j["usage"]);
  r.raw = body;
  return r;
}

TryOutcome AnthropicClient::TryOnce(const LlmRequest& request) {
  HttpRequest req;
  req.method = "POST";
  req.url = options_.base_url + "/v1/messages";
  req.timeout_s = options_.timeout_s;
  req.headers = {{"content-type", "application/json"},
                 {"x-api-key", options_.api_key},
                 {"anthropic-version", "2023-06-01"}};
  // File contents and tool output may not be UTF-8: replaced, never thrown.
  req.body = Body(request, options_.model).dump(-1, ' ', false, json::error_handler_t::replace);
  MessageAssembler assembler;
  SseParser sse([&](const std::string&, const std::string& data) { assembler.OnEventText(data); });
  BodySink sink = nullptr;
  if (request.stream) sink = [&](std::string_view chunk) { sse.Feed(chunk); return true; };
  TryOutcome out;
  Result<HttpResponse> resp = http_->Send(req, sink);
  if (!resp.ok()) {
    out.result = resp.status();
    out.retryable = true;  // connection errors and timeouts
    if (request.stream) CountUnreturned(assembler.usage());
    return out;
  }
  if (resp->status < 200 || resp->status >= 300) return FailureFromHttp(*resp, "anthropic API");
  out.result = request.stream ? assembler.Finish() : ParseMessage(resp->body);
  if (!out.result.ok() && request.stream) CountUnreturned(assembler.usage());
  out.retryable = !out.result.ok() && out.result.status().code() == Status::Code::kUnavailable;
  return out;
}

Result<LlmResponse> AnthropicClient::Complete(const LlmRequest& request) {
  if (options_.api_key.empty()) {
    return Status::NotFound(
        "no Anthropic API key: set ANTHROPIC_API_KEY (or llm.api_key / PORCH_LLM_API_KEY), "
        "or use Bedrock with --use-bedrock");
  }
  Result<LlmResponse> r = RetryLoop(*clock_, rng_, options_.retry, "anthropic API",
                                    [&] { return TryOnce(request); });
  // An endpoint may echo the request's headers in its error text.
  if (!r.ok()) return r.status().Redact({options_.api_key});
  return r;
}

}  // namespace porch
