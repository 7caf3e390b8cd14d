// Streaming answers, pure: splitting Server-Sent Events and assembling the
// Messages API's stream events (message_start, content_block_start/delta/
// stop, message_delta, message_stop) into one LlmResponse. Bedrock's event
// stream carries the same events, so both clients share the assembler.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "llm/llm_client.h"

namespace porch {

// Splits an SSE byte stream into events. Feed() takes arbitrary chunks.
class SseParser {
 public:
  using Handler = std::function<void(const std::string& event, const std::string& data)>;
  explicit SseParser(Handler handler) : handler_(std::move(handler)) {}
  void Feed(std::string_view chunk);

 private:
  void Line(std::string_view line);
  Handler handler_;
  std::string buffer_;
  std::string event_;
  std::string data_;
};

// Builds a response from stream events. After the stream ends, Finish()
// says whether it was complete (a message_stop arrived) and well-formed.
class MessageAssembler {
 public:
  // One event's JSON (its "type" field names it).
  void OnEvent(const nlohmann::json& event);
  void OnEventText(const std::string& data);  // parses, then OnEvent
  // A tool call cut off by max_tokens is not an error: the response comes
  // back with truncated_tool_use set and that block's input empty. Invalid
  // tool input under any other stop reason is Unavailable (a broken stream).
  Result<LlmResponse> Finish();
  // The usage the stream reported so far, complete or not (a cut-off stream
  // was still billed for its input).
  const Usage& usage() const { return response_.usage; }

 private:
  LlmResponse response_;
  std::vector<std::string> partial_json_;  // per content block index
  bool started_ = false;
  bool stopped_ = false;
  bool truncated_tool_ = false;
  Status error_;
};

}  // namespace porch
