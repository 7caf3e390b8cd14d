// Fuzz target: the Messages API's Server-Sent Events, split into chunks of
// the size the first byte chooses, assembled into one response; then the
// same bytes as a whole JSON answer.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "llm/anthropic_client.h"
#include "llm/stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t step = 1 + data[0] % 64;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  porch::MessageAssembler assembler;
  porch::SseParser parser([&](const std::string& event, const std::string& body) {
    if (event != "ping") assembler.OnEventText(body);
  });
  for (size_t i = 0; i < text.size(); i += step) parser.Feed(text.substr(i, step));
  (void)assembler.Finish();
  (void)porch::ParseMessage(std::string(text));  // the same bytes as a whole (non-streamed) answer
  return 0;
}
