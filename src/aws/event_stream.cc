#include "aws/event_stream.h"

#include <cstdint>

#include "core/crc32.h"

namespace porch {

namespace {

uint32_t Be32(const char* p) {
  auto b = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

void PutBe32(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>((v >> shift) & 0xff));
}

// Size of a header value of `type` starting at p (bytes available: n), or -1.
long ValueSize(unsigned char type, const char* p, size_t n) {
  switch (type) {
    case 0: case 1: return 0;
    case 2: return 1;
    case 3: return 2;
    case 4: return 4;
    case 5: case 8: return 8;
    case 9: return 16;
    case 6: case 7:
      if (n < 2) return -1;
      return 2 + ((static_cast<unsigned char>(p[0]) << 8) | static_cast<unsigned char>(p[1]));
    default: return -1;
  }
}

}  // namespace

Status EventStreamDecoder::Feed(std::string_view bytes, std::vector<EventMessage>* out) {
  if (!error_.ok()) return error_;
  buffer_.append(bytes);
  while (buffer_.size() >= 12) {
    uint32_t total = Be32(buffer_.data());
    uint32_t headers_len = Be32(buffer_.data() + 4);
    if (total < 16 || headers_len > total - 16 || total > (16u << 20)) {
      return error_ = Status::Unavailable("event stream: impossible message length");
    }
    if (Crc32(std::string_view(buffer_.data(), 8)) != Be32(buffer_.data() + 8)) {
      return error_ = Status::Unavailable("event stream: prelude checksum mismatch");
    }
    if (buffer_.size() < total) break;
    if (Crc32(std::string_view(buffer_.data(), total - 4)) != Be32(buffer_.data() + total - 4)) {
      return error_ = Status::Unavailable("event stream: message checksum mismatch");
    }
    EventMessage msg;
    const char* p = buffer_.data() + 12;
    const char* end = p + headers_len;
    while (p < end) {
      size_t name_len = static_cast<unsigned char>(*p++);
      if (p + name_len + 1 > end) return error_ = Status::Unavailable("event stream: bad header");
      std::string name(p, name_len);
      p += name_len;
      unsigned char type = static_cast<unsigned char>(*p++);
      long size = ValueSize(type, p, static_cast<size_t>(end - p));
      if (size < 0 || p + size > end) return error_ = Status::Unavailable("event stream: bad header");
      msg.headers[name] = (type == 6 || type == 7) ? std::string(p + 2, size - 2) : std::string(p, size);
      p += size;
    }
    msg.payload.assign(end, static_cast<size_t>(buffer_.data() + total - 4 - end));
    out->push_back(std::move(msg));
    buffer_.erase(0, total);
  }
  return Status::Ok();
}

std::string EncodeEventMessage(const std::map<std::string, std::string>& headers,
                               std::string_view payload) {
  std::string h;
  for (const auto& [k, v] : headers) {
    h.push_back(static_cast<char>(k.size()));
    h += k;
    h.push_back(7);
    h.push_back(static_cast<char>((v.size() >> 8) & 0xff));
    h.push_back(static_cast<char>(v.size() & 0xff));
    h += v;
  }
  std::string out;
  uint32_t total = static_cast<uint32_t>(12 + h.size() + payload.size() + 4);
  PutBe32(&out, total);
  PutBe32(&out, static_cast<uint32_t>(h.size()));
  PutBe32(&out, Crc32(out));
  out += h;
  out += payload;
  PutBe32(&out, Crc32(out));
  return out;
}

std::string Base64Encode(std::string_view data) {
  static const char* a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < data.size(); i += 3) {
    uint32_t v = (uint32_t{static_cast<unsigned char>(data[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(data[i + 1])} << 8) |
                 static_cast<unsigned char>(data[i + 2]);
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    out += a[v & 63];
  }
  if (i + 1 == data.size()) {
    uint32_t v = uint32_t{static_cast<unsigned char>(data[i])} << 16;
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == data.size()) {
    uint32_t v = (uint32_t{static_cast<unsigned char>(data[i])} << 16) |
                 (uint32_t{static_cast<unsigned char>(data[i + 1])} << 8);
    out += a[v >> 18];
    out += a[(v >> 12) & 63];
    out += a[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r') continue;
    int v = val(c);
    if (v < 0) return Status::InvalidArgument("invalid base64");
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return out;
}

}  // namespace porch
