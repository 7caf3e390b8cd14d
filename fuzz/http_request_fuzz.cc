// Fuzz target: the dashboard's request path: a request head parsed, its
// target decoded, and the ids checked as the dashboard checks them.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "plan/validate.h"
#include "web/http_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view head(reinterpret_cast<const char*>(data), size);
  porch::ServerRequest req;
  bool keep_alive = false;
  if (porch::ParseRequestHead(head, &req, &keep_alive) != 0) return 0;
  for (const std::string& segment : req.segments) {
    if (segment.find('\0') != std::string::npos) __builtin_trap();  // decoding must refuse NUL
    (void)porch::CheckId(segment, "id");
  }
  return 0;
}
