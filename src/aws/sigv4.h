// AWS Signature Version 4, pure (no clock, no I/O): the caller passes the
// request time. Proven against AWS's published test suite
// (tests/data/sigv4/). Used by the Bedrock client and the S3 client.
#pragma once

#include <functional>
#include <string>

#include "core/digest.h"
#include "platform/http.h"

namespace porch {

struct AwsCredentials {
  std::string access_key_id;
  std::string secret_access_key;  // secret
  std::string session_token;      // secret; empty for long-term keys
  std::string source;             // where they came from, for messages
  std::string expiration;         // ISO 8601 end of temporary keys ("": none known)
  bool from_instance_metadata = false;  // any process on the instance can ask again
  // Fetches fresh keys (set for instance-metadata keys); see
  // RenewIfExpiring in aws/credentials.h. Empty: the keys never change.
  std::function<Result<AwsCredentials>()> renew;
  double renew_failed_at = 0;  // when renewing last failed (tried again 30 s later)
};

struct SigV4Input {
  std::string method;
  std::string path = "/";   // as sent on the wire (already percent-encoded)
  std::string query;        // raw query string, without '?'
  HttpHeaders headers;      // must include host and x-amz-date
  std::string payload_sha256_hex;
  // Non-S3 services normalise the path and percent-encode it once more;
  // S3 does neither.
  bool s3 = false;
};

struct SigV4Output {
  std::string canonical_request;
  std::string string_to_sign;
  std::string authorization;  // the Authorization header's value
};

// `amz_date` is "YYYYMMDDTHHMMSSZ".
SigV4Output SignV4(const SigV4Input& in, const AwsCredentials& creds, const std::string& region,
                   const std::string& service, const std::string& amz_date);

// Signs `req` for `service` in `region`: adds host, x-amz-date (from
// `now`), x-amz-content-sha256 (S3 only), x-amz-security-token (temporary
// credentials) and the Authorization header over every header it then has.
// `host`, `path` (percent-encoded, as sent) and `query` (sorted and encoded,
// without '?') must match req.url. The one place porch signs requests (S3
// and Bedrock alike).
void SignRequest(HttpRequest* req, const std::string& host, const std::string& path,
                 const std::string& query, const std::string& payload_sha256_hex,
                 const AwsCredentials& creds, const std::string& region,
                 const std::string& service, double now);

// RFC 3986 percent-encoding (unreserved characters kept; '/' kept when
// `keep_slash`).
std::string UriEncode(std::string_view s, bool keep_slash);
// "YYYYMMDDTHHMMSSZ" for a Unix time.
std::string AmzDate(double unix_time);

}  // namespace porch
