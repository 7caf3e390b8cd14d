#include "llm/bedrock_client.h"

#include "aws/credentials.h"
#include "aws/event_stream.h"
#include "llm/anthropic_client.h"
#include "llm/stream.h"

namespace porch {

using nlohmann::json;

BedrockClient::BedrockClient(HttpClient* http, Clock* clock, BedrockOptions options)
    : http_(http), clock_(clock), options_(std::move(options)), rng_(std::random_device{}()) {}

std::string BedrockClient::Endpoint() const {
  if (!options_.endpoint.empty()) return options_.endpoint;
  return "https://bedrock-runtime." + options_.region + ".amazonaws.com";
}

json BedrockClient::Body(const LlmRequest& r) {
  json body = {{"anthropic_version", "bedrock-2023-05-31"},
               {"max_tokens", r.max_tokens},
               {"messages", r.messages}};
  if (!r.system.empty()) body["system"] = r.system;
  if (!r.tools.empty()) body["tools"] = r.tools;
  if (!r.tool_choice.is_null()) body["tool_choice"] = r.tool_choice;
  return body;
}

namespace {

// One message of Bedrock's event stream: an exception (a failure, transient
// or not) or a chunk carrying one SSE event of the Messages API in base64.
Status FeedEvent(const EventMessage& m, MessageAssembler* assembler) {
  auto type = m.headers.find(":message-type");
  if (type != m.headers.end() && type->second == "exception") {
    std::string kind = m.headers.count(":exception-type") ? m.headers.at(":exception-type") : "exception";
    json body = json::parse(m.payload, nullptr, false);
    std::string msg = body.is_object() && body.contains("message") && body["message"].is_string()
                          ? body["message"].get<std::string>()
                          : m.payload;
    bool transient = kind == "throttlingException" || kind == "internalServerException" ||
                     kind == "serviceUnavailableException" || kind == "modelStreamErrorException";
    return transient ? Status::Unavailable("bedrock " + kind + ": " + msg)
                     : Status::InvalidArgument("bedrock " + kind + ": " + msg);
  }
  json payload = json::parse(m.payload, nullptr, false);
  if (!payload.is_object() || !payload.contains("bytes")) return Status::Ok();
  if (!payload["bytes"].is_string()) {
    return Status::Unavailable("bedrock stream chunk's 'bytes' is not a string");
  }
  Result<std::string> event = Base64Decode(payload["bytes"].get<std::string>());
  if (!event.ok()) return Status::Unavailable("bedrock stream chunk is not base64");
  assembler->OnEventText(*event);
  return Status::Ok();
}

}  // namespace

TryOutcome BedrockClient::TryOnce(const LlmRequest& request) {
  std::string model = request.model.empty() ? options_.model : request.model;
  std::string endpoint = Endpoint();
  size_t scheme = endpoint.find("://");
  std::string host = endpoint.substr(scheme == std::string::npos ? 0 : scheme + 3);
  if (size_t slash = host.find('/'); slash != std::string::npos) host = host.substr(0, slash);
  std::string path = "/model/" + UriEncode(model, false) +
                     (request.stream ? "/invoke-with-response-stream" : "/invoke");
  HttpRequest req;
  req.method = "POST";
  req.url = endpoint + path;
  req.timeout_s = options_.timeout_s;
  req.body = Body(request).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  req.headers = {{"content-type", "application/json"},
                 {"accept", request.stream ? "application/vnd.amazon.eventstream" : "application/json"}};
  RenewIfExpiring(&options_.credentials, clock_->Now());
  SignRequest(&req, host, path, "", Sha256Hex(req.body), options_.credentials, options_.region,
              "bedrock", clock_->Now());

  MessageAssembler assembler;
  EventStreamDecoder decoder;
  Status stream_error;
  TryOutcome out;
  BodySink sink = nullptr;
  if (request.stream) {
    sink = [&](std::string_view chunk) {
      std::vector<EventMessage> messages;
      stream_error = decoder.Feed(chunk, &messages);
      for (size_t k = 0; k < messages.size() && stream_error.ok(); ++k) {
        stream_error = FeedEvent(messages[k], &assembler);
      }
      return stream_error.ok();
    };
  }
  Result<HttpResponse> resp = http_->Send(req, sink);
  if (!stream_error.ok() || !resp.ok()) CountUnreturned(assembler.usage());
  if (!stream_error.ok()) {
    out.result = stream_error;
    out.retryable = stream_error.code() == Status::Code::kUnavailable;
    return out;
  }
  if (!resp.ok()) {
    out.result = resp.status();
    out.retryable = true;
    return out;
  }
  if (resp->status < 200 || resp->status >= 300) return FailureFromHttp(*resp, "bedrock");
  if (request.stream) {
    out.result = decoder.idle() ? assembler.Finish()
                                : Result<LlmResponse>(Status::Unavailable("bedrock stream ended mid-message"));
    if (!out.result.ok()) CountUnreturned(assembler.usage());
  } else {
    out.result = ParseMessage(resp->body);
  }
  out.retryable = !out.result.ok() && out.result.status().code() == Status::Code::kUnavailable;
  return out;
}

Result<LlmResponse> BedrockClient::Complete(const LlmRequest& request) {
  if (options_.credentials.access_key_id.empty()) {
    return Status::NotFound("no AWS credentials for Bedrock");
  }
  Result<LlmResponse> r = RetryLoop(*clock_, rng_, options_.retry,
                                    "bedrock (" + options_.region + ")",
                                    [&] { return TryOnce(request); });
  if (!r.ok()) {
    return r.status().Redact({options_.credentials.secret_access_key,
                              options_.credentials.session_token});
  }
  return r;
}

}  // namespace porch
