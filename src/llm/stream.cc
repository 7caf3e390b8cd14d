#include "llm/stream.h"

namespace porch {

using nlohmann::json;

void SseParser::Feed(std::string_view chunk) {
  buffer_.append(chunk);
  size_t start = 0;
  while (true) {
    size_t nl = buffer_.find('\n', start);
    if (nl == std::string::npos) break;
    std::string_view line(buffer_.data() + start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    Line(line);
    start = nl + 1;
  }
  buffer_.erase(0, start);
}

void SseParser::Line(std::string_view line) {
  if (line.empty()) {  // end of an event
    if (!data_.empty() || !event_.empty()) handler_(event_, data_);
    event_.clear();
    data_.clear();
    return;
  }
  if (line.front() == ':') return;  // comment
  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (field == "event") {
    event_ = value;
  } else if (field == "data") {
    if (!data_.empty()) data_ += '\n';
    data_ += value;
  }
}

void MessageAssembler::OnEventText(const std::string& data) {
  json event = json::parse(data, nullptr, false);
  if (event.is_discarded()) {
    if (error_.ok()) error_ = Status::Unavailable("the stream carried malformed JSON");
    return;
  }
  OnEvent(event);
}

namespace {

// A stream names content blocks by index; more than this is not a message.
constexpr size_t kMaxContentBlocks = 4096;

size_t BlockIndex(const json& event) {
  const json& value = event.at("index");
  if (!value.is_number_unsigned()) throw std::out_of_range("content block index is not a count");
  const size_t index = value.get<size_t>();
  if (index >= kMaxContentBlocks) throw std::out_of_range("content block index " + std::to_string(index));
  return index;
}

}  // namespace

void MessageAssembler::OnEvent(const json& event) {
  if (!error_.ok() || !event.is_object()) return;
  std::string type;
  try {
    // Everything in the event comes from the network: any field may have
    // any type, and a wrong one is a malformed stream, never a crash.
    type = event.value("type", "");
    response_.raw += event.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
    if (type == "message_start") {
      const json& m = event.at("message");
      response_.id = m.value("id", "");
      response_.model = m.value("model", "");
      if (m.contains("usage")) response_.usage = Usage::FromJson(m["usage"]);
      started_ = true;
    } else if (type == "content_block_start") {
      const size_t index = BlockIndex(event);
      if (response_.content.size() <= index) response_.content.get_ref<json::array_t&>().resize(index + 1);
      if (partial_json_.size() <= index) partial_json_.resize(index + 1);
      response_.content[index] = event.at("content_block");
    } else if (type == "content_block_delta") {
      const size_t index = BlockIndex(event);
      const json& d = event.at("delta");
      std::string dtype = d.value("type", "");
      if (index >= response_.content.size()) throw std::out_of_range("delta for unknown block");
      json& block = response_.content[index];
      if (dtype == "text_delta") {
        block["text"] = block.value("text", "") + d.value("text", "");
      } else if (dtype == "input_json_delta") {
        partial_json_[index] += d.value("partial_json", "");
      } else if (dtype == "thinking_delta") {
        block["thinking"] = block.value("thinking", "") + d.value("thinking", "");
      }
    } else if (type == "content_block_stop") {
      const size_t index = BlockIndex(event);
      if (index < response_.content.size() && response_.content[index].value("type", "") == "tool_use") {
        const std::string& text = partial_json_[index];
        json input = text.empty() ? json::object() : json::parse(text, nullptr, false);
        if (input.is_discarded()) {
          // Cut off by max_tokens (the stop reason comes later, in
          // message_delta) or broken: Finish() decides which.
          truncated_tool_ = true;
          input = json::object();
        }
        response_.content[index]["input"] = input;
      }
    } else if (type == "message_delta") {
      if (event.contains("delta")) response_.stop_reason = event["delta"].value("stop_reason", "");
      if (event.contains("usage")) {
        Usage u = Usage::FromJson(event["usage"]);
        response_.usage.output_tokens = u.output_tokens;
        if (u.input_tokens) response_.usage.input_tokens = u.input_tokens;
      }
    } else if (type == "message_stop") {
      stopped_ = true;
    } else if (type == "error") {
      const json& e = event.value("error", json::object());
      std::string etype = e.value("type", "error");
      std::string msg = e.value("message", "");
      error_ = etype == "overloaded_error" || etype == "api_error"
                   ? Status::Unavailable(etype + ": " + msg)
                   : Status::InvalidArgument(etype + ": " + msg);
    }
  } catch (const json::exception& e) {
    error_ = Status::Unavailable(std::string("malformed stream event '") + type + "': " + e.what());
  } catch (const std::out_of_range& e) {
    error_ = Status::Unavailable(std::string("malformed stream event '") + type + "': " + e.what());
  }
}

Result<LlmResponse> MessageAssembler::Finish() {
  if (!error_.ok()) return error_;
  if (!started_ || !stopped_) {
    return Status::Unavailable("the stream ended before the message was complete");
  }
  // max_tokens with a tool call last: cut off, even if no input (or input
  // that happens to parse) arrived.
  if (response_.stop_reason == "max_tokens" && !response_.content.empty() &&
      response_.content.back().is_object() &&
      response_.content.back().value("type", "") == "tool_use") {
    truncated_tool_ = true;
  }
  if (truncated_tool_) {
    if (response_.stop_reason != "max_tokens") {
      return Status::Unavailable("the stream's tool input is not valid JSON");
    }
    response_.truncated_tool_use = true;
  }
  return response_;
}

}  // namespace porch
