#include "core/digest.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cerrno>
#include <cstdio>

namespace porch {

struct StreamDigest::Ctx {
  EVP_MD_CTX* md5 = EVP_MD_CTX_new();
  EVP_MD_CTX* sha = EVP_MD_CTX_new();
  ~Ctx() {
    EVP_MD_CTX_free(md5);
    EVP_MD_CTX_free(sha);
  }
};

std::string HexEncode(std::string_view bytes) {
  static const char* k = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += k[c >> 4];
    out += k[c & 15];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  return HexEncode(std::string_view(reinterpret_cast<char*>(md), len));
}

std::string HmacSha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::string Md5Raw(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

StreamDigest::StreamDigest() : ctx_(std::make_unique<Ctx>()) {
  EVP_DigestInit_ex(ctx_->md5, EVP_md5(), nullptr);
  EVP_DigestInit_ex(ctx_->sha, EVP_sha256(), nullptr);
}

StreamDigest::~StreamDigest() = default;

void StreamDigest::Update(std::string_view data) {
  EVP_DigestUpdate(ctx_->md5, data.data(), data.size());
  EVP_DigestUpdate(ctx_->sha, data.data(), data.size());
  size_ += data.size();
}

ContentDigest StreamDigest::Finish() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned n = 0;
  ContentDigest d;
  d.size = size_;
  EVP_DigestFinal_ex(ctx_->md5, md, &n);
  d.md5 = HexEncode(std::string_view(reinterpret_cast<char*>(md), n));
  EVP_DigestFinal_ex(ctx_->sha, md, &n);
  d.sha256 = HexEncode(std::string_view(reinterpret_cast<char*>(md), n));
  return d;
}

Result<ContentDigest> DigestFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return Status::FromErrno("cannot open '" + path + "'", errno);
  StreamDigest d;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) d.Update(std::string_view(buf, n));
  bool err = std::ferror(f);
  std::fclose(f);
  if (err) return Status::IoError("cannot read '" + path + "'");
  return d.Finish();
}

}  // namespace porch
