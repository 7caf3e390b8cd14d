#include "aws/sigv4.h"

#include "core/digest.h"


#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <vector>

namespace porch {

namespace {

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

// Removes "." and ".." segments and empty segments between slashes.
std::string NormalizePath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string seg = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (seg == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!seg.empty() && seg != ".") {
      parts.push_back(seg);
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  std::string out;
  for (const std::string& p : parts) out += "/" + p;
  if (out.empty()) return "/";
  if (path.size() > 1 && path.back() == '/') out += "/";
  return out;
}

std::string Trim(const std::string& v) {
  std::string out;
  bool space = false;
  for (char c : v) {
    if (c == ' ' || c == '\t') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

}  // namespace


std::string UriEncode(std::string_view s, bool keep_slash) {
  static const char* digits = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

void SignRequest(HttpRequest* req, const std::string& host, const std::string& path,
                 const std::string& query, const std::string& payload_sha256_hex,
                 const AwsCredentials& creds, const std::string& region,
                 const std::string& service, double now) {
  const std::string amz_date = AmzDate(now);
  req->headers.emplace_back("host", host);
  req->headers.emplace_back("x-amz-date", amz_date);
  const bool s3 = service == "s3";
  if (s3) req->headers.emplace_back("x-amz-content-sha256", payload_sha256_hex);
  if (!creds.session_token.empty()) {
    req->headers.emplace_back("x-amz-security-token", creds.session_token);
  }
  SigV4Input sig;
  sig.method = req->method;
  sig.path = path;
  sig.query = query;
  sig.headers = req->headers;
  sig.payload_sha256_hex = payload_sha256_hex;
  sig.s3 = s3;
  req->headers.emplace_back("authorization",
                            SignV4(sig, creds, region, service, amz_date).authorization);
}

std::string AmzDate(double unix_time) {
  time_t t = static_cast<time_t>(unix_time);
  struct tm tm_utc;
  gmtime_r(&t, &tm_utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm_utc);
  return buf;
}

SigV4Output SignV4(const SigV4Input& in, const AwsCredentials& creds, const std::string& region,
                   const std::string& service, const std::string& amz_date) {
  std::string path = in.path.empty() ? "/" : in.path;
  std::string canonical_uri =
      in.s3 ? path : UriEncode(NormalizePath(path), /*keep_slash=*/true);

  std::vector<std::pair<std::string, std::string>> params;
  if (!in.query.empty()) {
    size_t start = 0;
    while (start <= in.query.size()) {
      size_t amp = in.query.find('&', start);
      std::string item = in.query.substr(start, amp == std::string::npos ? std::string::npos : amp - start);
      if (!item.empty()) {
        size_t eq = item.find('=');
        std::string k = PercentDecode(item.substr(0, eq));
        std::string v = eq == std::string::npos ? "" : PercentDecode(item.substr(eq + 1));
        params.emplace_back(UriEncode(k, false), UriEncode(v, false));
      }
      if (amp == std::string::npos) break;
      start = amp + 1;
    }
  }
  std::sort(params.begin(), params.end());
  std::string canonical_query;
  for (size_t i = 0; i < params.size(); ++i) {
    if (i) canonical_query += '&';
    canonical_query += params[i].first + "=" + params[i].second;
  }

  // Lower-case names, sorted; repeated headers join their values with ','.
  std::map<std::string, std::vector<std::string>> headers;
  for (const auto& [k, v] : in.headers) {
    std::string name = k;
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    headers[name].push_back(Trim(v));
  }
  std::string canonical_headers, signed_headers;
  for (const auto& [name, values] : headers) {
    canonical_headers += name + ":";
    for (size_t i = 0; i < values.size(); ++i) canonical_headers += (i ? "," : "") + values[i];
    canonical_headers += "\n";
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += name;
  }

  SigV4Output out;
  out.canonical_request = in.method + "\n" + canonical_uri + "\n" + canonical_query + "\n" +
                          canonical_headers + "\n" + signed_headers + "\n" +
                          in.payload_sha256_hex;
  std::string date = amz_date.substr(0, 8);
  std::string scope = date + "/" + region + "/" + service + "/aws4_request";
  out.string_to_sign = "AWS4-HMAC-SHA256\n" + amz_date + "\n" + scope + "\n" +
                       Sha256Hex(out.canonical_request);
  std::string key = HmacSha256("AWS4" + creds.secret_access_key, date);
  key = HmacSha256(key, region);
  key = HmacSha256(key, service);
  key = HmacSha256(key, "aws4_request");
  std::string sig = HmacSha256(key, out.string_to_sign);
  out.authorization = "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" +
                      HexEncode(sig);
  return out;
}

}  // namespace porch
