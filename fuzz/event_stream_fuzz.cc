// Fuzz target: Bedrock's binary event stream (lengths, headers, CRCs), in
// chunks the first byte chooses, then each message's base64 payload into
// the stream assembler as the Bedrock client does.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "aws/event_stream.h"
#include "llm/stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 128;
  std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  porch::EventStreamDecoder decoder;
  porch::MessageAssembler assembler;
  for (size_t i = 0; i < bytes.size(); i += step) {
    std::vector<porch::EventMessage> messages;
    if (!decoder.Feed(bytes.substr(i, step), &messages).ok()) return 0;
    for (const porch::EventMessage& m : messages) {
      nlohmann::json payload = nlohmann::json::parse(m.payload, nullptr, false);
      if (!payload.is_object() || !payload.contains("bytes") || !payload["bytes"].is_string()) continue;
      porch::Result<std::string> event = porch::Base64Decode(payload["bytes"].get<std::string>());
      if (event.ok()) assembler.OnEventText(*event);
    }
  }
  if (decoder.idle()) (void)assembler.Finish();
  return 0;
}
