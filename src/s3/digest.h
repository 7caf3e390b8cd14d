// MD5 and SHA-256 of content, in one pass (OpenSSL): S3's single-part ETag
// is the MD5; porch's own integrity metadata is the SHA-256.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace porch {

struct ContentDigest {
  uint64_t size = 0;
  std::string md5;     // hex
  std::string sha256;  // hex
};

class StreamDigest {
 public:
  StreamDigest();
  ~StreamDigest();
  void Update(std::string_view data);
  ContentDigest Finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  uint64_t size_ = 0;
};

Result<ContentDigest> DigestFile(const std::string& path);

// Lower-case hex of raw bytes.
std::string HexEncode(std::string_view bytes);
// The raw 16-byte MD5 of `data` (Content-MD5 is its base64).
std::string Md5Raw(std::string_view data);

}  // namespace porch
