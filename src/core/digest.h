// Hashes, in one module (OpenSSL): SHA-256 (porch's integrity checks,
// SigV4), MD5 (S3's single-part ETag and Content-MD5), HMAC-SHA-256
// (SigV4 signing keys), and lower-case hex. Pure apart from DigestFile.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "core/status.h"

namespace porch {

// Lower-case hex of raw bytes.
std::string HexEncode(std::string_view bytes);
// Hex SHA-256 of `data`.
std::string Sha256Hex(std::string_view data);
// The raw 16-byte MD5 of `data` (Content-MD5 is its base64).
std::string Md5Raw(std::string_view data);
// The raw 32-byte HMAC-SHA-256 of `data` under `key`.
std::string HmacSha256(std::string_view key, std::string_view data);

struct ContentDigest {
  uint64_t size = 0;
  std::string md5;     // hex
  std::string sha256;  // hex
};

// MD5 and SHA-256 of content fed in pieces, in one pass.
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

// Both digests of the file at `path`, read in 64 KiB pieces.
Result<ContentDigest> DigestFile(const std::string& path);

}  // namespace porch
