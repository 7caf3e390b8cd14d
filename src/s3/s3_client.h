// porch's own S3 client: the REST API over the HttpClient seam, signed with
// SigV4 (aws/sigv4.h, shared with the Bedrock client). No AWS SDK.
//
// - Addressing: `endpoint` overrides https://s3.<region>.amazonaws.com (for
//   S3-compatible stores and tests); path-style (endpoint/bucket/key) or
//   virtual-hosted (bucket.host/key).
// - Integrity: PUT sends Content-MD5 (the store verifies it) and the
//   content's SHA-256 as x-amz-meta-porch-sha256; GET verifies the content
//   against that SHA-256, or the MD5 ETag of a single-part object.
// - Multipart above `multipart_threshold`, `part_size` parts; a failed
//   upload is aborted.
// - Retries with exponential backoff (through the Clock) on connection
//   errors, 5xx, SlowDown and 429; other errors at once, with S3's own code
//   and message; 403 names the bucket and where the credentials came from;
//   a missing bucket is NotFound naming it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "aws/sigv4.h"
#include "platform/clock.h"
#include "platform/http.h"
#include "platform/retry.h"
#include "s3/object_store.h"

namespace porch {

struct S3Options {
  std::string region = "eu-central-1";
  std::string endpoint;                 // empty: https://s3.<region>.amazonaws.com
  bool path_style = false;              // forced on when `endpoint` is set
  AwsCredentials credentials;
  uint64_t multipart_threshold = 16ull << 20;
  uint64_t part_size = 8ull << 20;      // S3's minimum is 5 MiB (but for the last part)
  int list_page_size = 1000;
  int max_attempts = 5;
  double retry_base_s = 0.5;
  double timeout_s = 600;
};

class S3Client : public ObjectStore {
 public:
  // `http` and `clock` are not owned.
  S3Client(HttpClient* http, Clock* clock, S3Options options);

  Status CreateBucket(const std::string& bucket) override;
  Status PutFile(const std::string& bucket, const std::string& key, const std::string& path) override;
  Status PutData(const std::string& bucket, const std::string& key, const std::string& data) override;
  Status GetFile(const std::string& bucket, const std::string& key, const std::string& path) override;
  Result<std::string> GetData(const std::string& bucket, const std::string& key) override;
  Result<ObjectInfo> Head(const std::string& bucket, const std::string& key) override;
  Result<std::vector<ObjectInfo>> List(const std::string& bucket, const std::string& prefix) override;
  Status Delete(const std::string& bucket, const std::string& key) override;

  int requests() const { return requests_; }
  int retries() const { return retries_; }

 private:
  struct Call {
    std::string method;
    std::string bucket;
    std::string key;
    std::vector<std::pair<std::string, std::string>> query;  // unencoded
    HttpHeaders headers;
    std::string body;
  };
  // Signs and sends with retries; a non-2xx answer becomes an error.
  Result<HttpResponse> Send(const Call& call, const BodySink& sink = nullptr);
  Status ErrorFor(const Call& call, const HttpResponse& r) const;
  // Whether an answer is done, worth another try, or a final refusal.
  TryResult<HttpResponse> Judge(const Call& call, Result<HttpResponse> r);
  Status PutMultipart(const std::string& bucket, const std::string& key, const std::string& path,
                      uint64_t size, const std::string& sha256);

  HttpClient* http_;
  Clock* clock_;
  S3Options options_;
  int requests_ = 0;
  int retries_ = 0;
};

// "s3://bucket/prefix" -> bucket, prefix (without a leading '/'). False when
// `url` does not start with s3://.
bool ParseS3Url(const std::string& url, std::string* bucket, std::string* prefix);

// Inner texts of every <tag>...</tag> in `xml`, entities decoded (S3's
// answers are flat enough for this; no attributes, no nesting of `tag`).
std::vector<std::string> XmlElements(const std::string& xml, const std::string& tag);
std::string XmlElement(const std::string& xml, const std::string& tag);

}  // namespace porch
