#include "s3/s3_client.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "aws/credentials.h"
#include "aws/event_stream.h"
#include "platform/files.h"
#include "core/digest.h"

namespace porch {

namespace {

std::string Unquote(std::string s) {
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

std::string XmlDecode(std::string s) {
  const std::pair<const char*, const char*> entities[] = {
      {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&#34;", "\""},
      {"&#39;", "'"}, {"&amp;", "&"}};
  for (const auto& [from, to] : entities) {
    size_t pos = 0;
    std::string f(from);
    while ((pos = s.find(f, pos)) != std::string::npos) {
      s.replace(pos, f.size(), to);
      pos += std::string(to).size();
    }
  }
  return s;
}

// One backoff never waits longer than this.
constexpr double kMaxS3BackoffSeconds = 30;

bool Retryable(long status, const std::string& body) {
  return status >= 500 || status == 429 || body.find("<Code>SlowDown</Code>") != std::string::npos;
}

}  // namespace

std::vector<std::string> XmlElements(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out;
  const std::string open = "<" + tag + ">", close = "</" + tag + ">";
  size_t pos = 0;
  while ((pos = xml.find(open, pos)) != std::string::npos) {
    size_t start = pos + open.size();
    size_t end = xml.find(close, start);
    if (end == std::string::npos) break;
    out.push_back(XmlDecode(xml.substr(start, end - start)));
    pos = end + close.size();
  }
  return out;
}

std::string XmlElement(const std::string& xml, const std::string& tag) {
  std::vector<std::string> all = XmlElements(xml, tag);
  return all.empty() ? "" : all.front();
}

bool ParseS3Url(const std::string& url, std::string* bucket, std::string* prefix) {
  if (url.rfind("s3://", 0) != 0) return false;
  std::string rest = url.substr(5);
  size_t slash = rest.find('/');
  *bucket = rest.substr(0, slash);
  *prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
  return !bucket->empty();
}

S3Client::S3Client(HttpClient* http, Clock* clock, S3Options options)
    : http_(http), clock_(clock), options_(std::move(options)) {
  if (!options_.endpoint.empty()) {
    options_.path_style = true;
    while (!options_.endpoint.empty() && options_.endpoint.back() == '/') options_.endpoint.pop_back();
  }
}

Status S3Client::ErrorFor(const Call& call, const HttpResponse& r) const {
  std::string code = XmlElement(r.body, "Code");
  std::string message = XmlElement(r.body, "Message");
  std::string where = "s3://" + call.bucket + (call.key.empty() ? "" : "/" + call.key);
  std::string said = code.empty() ? "HTTP " + std::to_string(r.status)
                                  : code + (message.empty() ? "" : ": " + message);
  if (code == "NoSuchBucket") {
    return Status::NotFound("bucket '" + call.bucket + "' does not exist at " +
                            (options_.endpoint.empty() ? "S3 in " + options_.region : options_.endpoint) +
                            " (create it, or check aws.s3_bucket)");
  }
  if (r.status == 404 || code == "NoSuchKey" || code == "NoSuchUpload") {
    return Status::NotFound(call.method + " " + where + ": not found (" + said + ")");
  }
  if (r.status == 403) {
    return Status::InvalidArgument(
        call.method + " " + where + ": access denied to bucket '" + call.bucket + "' (" + said +
        "); the credentials came from " +
        (options_.credentials.source.empty() ? "nowhere" : options_.credentials.source) +
        ": check the key, the secret and the bucket's policy");
  }
  return Status::Internal(call.method + " " + where + ": " + said);
}

Result<HttpResponse> S3Client::Send(const Call& call, const BodySink& sink) {
  std::string host, base;
  std::string endpoint = options_.endpoint.empty()
                             ? "https://s3." + options_.region + ".amazonaws.com"
                             : options_.endpoint;
  size_t scheme = endpoint.find("://");
  std::string scheme_part = endpoint.substr(0, scheme + 3);
  host = endpoint.substr(scheme + 3);
  std::string path;
  if (options_.path_style) {
    path = "/" + (call.bucket.empty() ? "" : call.bucket + (call.key.empty() ? "" : "/"));
  } else {
    if (!call.bucket.empty()) host = call.bucket + "." + host;
    path = "/";
  }
  path += UriEncode(call.key, true);
  std::vector<std::pair<std::string, std::string>> q = call.query;
  std::sort(q.begin(), q.end());
  std::string query;
  for (const auto& [k, v] : q) {
    query += (query.empty() ? "" : "&") + UriEncode(k, false) + "=" + UriEncode(v, false);
  }
  RetryBudget budget;
  budget.max_attempts = options_.max_attempts;
  budget.backoff = {options_.retry_base_s, /*multiplier=*/2, kMaxS3BackoffSeconds, /*jitter=*/0};
  RetryStats stats;
  Result<HttpResponse> r = RetryWithBackoff<HttpResponse>(
      *clock_, nullptr, budget, call.method + " s3://" + call.bucket + "/" + call.key,
      [&](int) -> TryResult<HttpResponse> {
        HttpRequest req;
        req.method = call.method;
        req.url = scheme_part + host + path + (query.empty() ? "" : "?" + query);
        req.body = call.body;
        req.timeout_s = options_.timeout_s;
        for (const auto& h : call.headers) req.headers.push_back(h);
        if ((call.method == "PUT" || call.method == "POST") &&
            std::none_of(call.headers.begin(), call.headers.end(),
                         [](const auto& h) { return h.first == "content-type"; })) {
          req.headers.emplace_back("content-type", "application/octet-stream");
        }
        RenewIfExpiring(&options_.credentials, clock_->Now());
        SignRequest(&req, host, path, query, Sha256Hex(call.body), options_.credentials,
                    options_.region, "s3", clock_->Now());
        ++requests_;
        return Judge(call, http_->Send(req, sink));
      },
      &stats);
  retries_ += stats.retries;
  return r;
}

TryResult<HttpResponse> S3Client::Judge(const Call& call, Result<HttpResponse> r) {
  using Try = TryResult<HttpResponse>;
  if (!r.ok()) return Try::Again(r.status());  // connection errors, timeouts
  if (r->status >= 200 && r->status < 300) {
    // CompleteMultipartUpload may fail inside a 200 answer.
    if (call.method != "POST" || r->body.find("<Error>") == std::string::npos) {
      return Try::Done(std::move(*r));
    }
    if (!Retryable(500, r->body) && r->body.find("InternalError") == std::string::npos) {
      return Try::Fail(ErrorFor(call, *r));
    }
    return Try::Again(Status::Unavailable("error inside a 200 answer"), XmlElement(r->body, "Code"));
  }
  if (!Retryable(r->status, r->body)) return Try::Fail(ErrorFor(call, *r));
  return Try::Again(Status::Unavailable("HTTP " + std::to_string(r->status)),
                    "HTTP " + std::to_string(r->status) + " " + XmlElement(r->body, "Code"));
}

Status S3Client::CreateBucket(const std::string& bucket) {
  Call c{"PUT", bucket, "", {}, {}, ""};
  if (options_.region != "us-east-1" && options_.endpoint.empty()) {
    c.body = "<CreateBucketConfiguration><LocationConstraint>" + options_.region +
             "</LocationConstraint></CreateBucketConfiguration>";
    c.headers.emplace_back("content-type", "application/xml");
  }
  Result<HttpResponse> r = Send(c);
  if (!r.ok() && r.status().message().find("BucketAlreadyOwnedByYou") != std::string::npos) {
    return Status::Ok();
  }
  return r.status();
}

Status S3Client::PutData(const std::string& bucket, const std::string& key, const std::string& data) {
  Call c{"PUT", bucket, key, {}, {}, data};
  c.headers = {{"content-md5", Base64Encode(Md5Raw(data))},
               {"x-amz-meta-porch-sha256", Sha256Hex(data)}};
  Result<HttpResponse> r = Send(c);
  if (!r.ok()) return r.status();
  std::string etag = Unquote(r->Header("etag"));
  std::string md5 = HexEncode(Md5Raw(data));
  if (!etag.empty() && etag.find('-') == std::string::npos && etag != md5) {
    return Status::IoError("PUT s3://" + bucket + "/" + key + ": the store's ETag " + etag +
                           " does not match the content's MD5 " + md5);
  }
  return Status::Ok();
}

Status S3Client::PutFile(const std::string& bucket, const std::string& key, const std::string& path) {
  Result<ContentDigest> d = DigestFile(path);
  if (!d.ok()) return d.status();
  if (d->size > options_.multipart_threshold) {
    return PutMultipart(bucket, key, path, d->size, d->sha256);
  }
  Result<std::string> data = ReadFile(path);
  if (!data.ok()) return data.status();
  return PutData(bucket, key, *data);
}

Status S3Client::PutMultipart(const std::string& bucket, const std::string& key,
                              const std::string& path, uint64_t size, const std::string& sha256) {
  Call init{"POST", bucket, key, {{"uploads", ""}}, {{"x-amz-meta-porch-sha256", sha256}}, ""};
  Result<HttpResponse> r = Send(init);
  if (!r.ok()) return r.status();
  std::string upload = XmlElement(r->body, "UploadId");
  if (upload.empty()) return Status::Internal("POST s3://" + bucket + "/" + key + "?uploads: no UploadId");
  auto abort = [&](Status why) {
    Send({"DELETE", bucket, key, {{"uploadId", upload}}, {}, ""}).IgnoreError();  // best effort: the upload failed already
    return why.Annotate("multipart upload of " + path + " aborted");
  };
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return abort(Status::FromErrno("cannot open '" + path + "'", errno));
  std::string parts_xml;
  std::string buf(options_.part_size, '\0');
  int number = 0;
  uint64_t sent = 0;
  Status st;
  while (sent < size) {
    size_t n = std::fread(buf.data(), 1, buf.size(), f);
    if (n == 0) {
      st = Status::IoError("'" + path + "' shrank while uploading it");
      break;
    }
    ++number;
    std::string part = buf.substr(0, n);
    Call put{"PUT", bucket, key,
             {{"partNumber", std::to_string(number)}, {"uploadId", upload}},
             {{"content-md5", Base64Encode(Md5Raw(part))}}, part};
    Result<HttpResponse> pr = Send(put);
    if (!pr.ok()) {
      st = pr.status();
      break;
    }
    parts_xml += "<Part><PartNumber>" + std::to_string(number) + "</PartNumber><ETag>" +
                 pr->Header("etag") + "</ETag></Part>";
    sent += n;
  }
  std::fclose(f);
  if (!st.ok()) return abort(st);
  Call done{"POST", bucket, key, {{"uploadId", upload}}, {{"content-type", "application/xml"}},
            "<CompleteMultipartUpload>" + parts_xml + "</CompleteMultipartUpload>"};
  r = Send(done);
  if (!r.ok()) return abort(r.status());
  return Status::Ok();
}

Result<ObjectInfo> S3Client::Head(const std::string& bucket, const std::string& key) {
  Result<HttpResponse> r = Send({"HEAD", bucket, key, {}, {}, ""});
  if (!r.ok()) return r.status();
  ObjectInfo info;
  info.key = key;
  info.size = std::strtoull(r->Header("content-length").c_str(), nullptr, 10);
  info.etag = Unquote(r->Header("etag"));
  info.sha256 = r->Header("x-amz-meta-porch-sha256");
  return info;
}

Result<std::string> S3Client::GetData(const std::string& bucket, const std::string& key) {
  Result<HttpResponse> r = Send({"GET", bucket, key, {}, {}, ""});
  if (!r.ok()) return r.status();
  std::string want = r->Header("x-amz-meta-porch-sha256");
  if (!want.empty() && Sha256Hex(r->body) != want) {
    return Status::IoError("GET s3://" + bucket + "/" + key + ": content does not match its SHA-256");
  }
  return r->body;
}

Status S3Client::GetFile(const std::string& bucket, const std::string& key, const std::string& path) {
  PORCH_RETURN_IF_ERROR(MakeDirs(DirName(path)));
  std::string tmp = path + ".porch-part";
  FILE* f = nullptr;
  StreamDigest digest;
  Status write_error;
  BodySink sink = [&](std::string_view chunk) {
    if (!f) f = std::fopen(tmp.c_str(), "wb");
    if (!f || std::fwrite(chunk.data(), 1, chunk.size(), f) != chunk.size()) {
      write_error = Status::IoError("cannot write '" + tmp + "' (disk full?)");
      return false;
    }
    digest.Update(chunk);
    return true;
  };
  Result<HttpResponse> r = Send({"GET", bucket, key, {}, {}, ""}, sink);
  if (!f && r.ok() && write_error.ok()) f = std::fopen(tmp.c_str(), "wb");  // empty object
  if (f) {
    if (std::fflush(f) != 0 || fsync(fileno(f)) != 0) write_error = Status::IoError("cannot sync '" + tmp + "'");
    std::fclose(f);
  }
  if (!write_error.ok() || !r.ok()) {
    std::remove(tmp.c_str());
    return !write_error.ok() ? write_error : r.status();
  }
  ContentDigest got = digest.Finish();
  std::string sha = r->Header("x-amz-meta-porch-sha256");
  std::string etag = Unquote(r->Header("etag"));
  bool bad = !sha.empty() ? got.sha256 != sha
                          : (!etag.empty() && etag.find('-') == std::string::npos && etag != got.md5);
  if (bad) {
    std::remove(tmp.c_str());
    return Status::IoError("GET s3://" + bucket + "/" + key +
                           ": the downloaded content does not match the object's checksum");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::FromErrno("cannot rename '" + tmp + "'", errno);
  }
  return Status::Ok();
}

Result<std::vector<ObjectInfo>> S3Client::List(const std::string& bucket, const std::string& prefix) {
  std::vector<ObjectInfo> out;
  std::string token;
  while (true) {
    Call c{"GET", bucket, "", {{"list-type", "2"}, {"prefix", prefix},
                               {"max-keys", std::to_string(options_.list_page_size)}}, {}, ""};
    if (!token.empty()) c.query.emplace_back("continuation-token", token);
    Result<HttpResponse> r = Send(c);
    if (!r.ok()) return r.status();
    for (const std::string& item : XmlElements(r->body, "Contents")) {
      ObjectInfo info;
      info.key = XmlElement(item, "Key");
      info.size = std::strtoull(XmlElement(item, "Size").c_str(), nullptr, 10);
      info.etag = Unquote(XmlElement(item, "ETag"));
      out.push_back(std::move(info));
    }
    if (XmlElement(r->body, "IsTruncated") != "true") break;
    token = XmlElement(r->body, "NextContinuationToken");
    if (token.empty()) break;
  }
  return out;
}

Status S3Client::Delete(const std::string& bucket, const std::string& key) {
  return Send({"DELETE", bucket, key, {}, {}, ""}).status();
}

}  // namespace porch
