// AWS's binary event stream (application/vnd.amazon.eventstream), as used by
// Bedrock's InvokeModelWithResponseStream. Pure.
//
// A message: total length (4 bytes, big-endian), headers length (4), CRC-32
// of those 8 bytes (4), headers, payload, CRC-32 of everything before it (4).
// A header: name length (1), name, type (1), value (typed; strings have a
// 2-byte length).
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace porch {

struct EventMessage {
  std::map<std::string, std::string> headers;  // string-typed headers; others as raw bytes
  std::string payload;
};

class EventStreamDecoder {
 public:
  // Appends bytes; complete messages go to `out`. A CRC mismatch or an
  // impossible length is an error (the stream is unusable from then on).
  Status Feed(std::string_view bytes, std::vector<EventMessage>* out);
  // True when no partial message is buffered.
  bool idle() const { return buffer_.empty(); }

 private:
  std::string buffer_;
  Status error_;
};

// Encodes a message with string headers (tests and the fake server's peer).
std::string EncodeEventMessage(const std::map<std::string, std::string>& headers,
                               std::string_view payload);

// Standard base64.
std::string Base64Encode(std::string_view data);
Result<std::string> Base64Decode(std::string_view text);

}  // namespace porch
