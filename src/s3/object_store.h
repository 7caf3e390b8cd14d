// The object-store seam: what porch needs from S3 (or an S3-compatible
// store) to stage a run's files for compute nodes that share no filesystem
// with the machine porch runs on. One real implementation (S3Client, over
// libcurl with SigV4) and test fakes.
//
// Contract: keys are '/'-separated object names; every call blocks; errors
// are values whose messages name the bucket and key. Not thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace porch {

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  std::string etag;    // without quotes; "<md5 hex>" for single-part uploads, "<hex>-N" for multipart
  std::string sha256;  // hex, from porch's own metadata (Head only; empty if absent)
};

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  virtual Status CreateBucket(const std::string& bucket) = 0;
  // Uploads a local file (multipart above the client's threshold), with its
  // SHA-256 in the object's metadata.
  virtual Status PutFile(const std::string& bucket, const std::string& key,
                         const std::string& path) = 0;
  virtual Status PutData(const std::string& bucket, const std::string& key,
                         const std::string& data) = 0;
  // Downloads to `path` (temp file, fsync, rename), verifying the content
  // against the object's SHA-256 metadata or single-part ETag.
  virtual Status GetFile(const std::string& bucket, const std::string& key,
                         const std::string& path) = 0;
  virtual Result<std::string> GetData(const std::string& bucket, const std::string& key) = 0;
  // NotFound when there is no such object.
  virtual Result<ObjectInfo> Head(const std::string& bucket, const std::string& key) = 0;
  // Every object whose key starts with `prefix`, all pages.
  virtual Result<std::vector<ObjectInfo>> List(const std::string& bucket,
                                               const std::string& prefix) = 0;
  virtual Status Delete(const std::string& bucket, const std::string& key) = 0;
};

}  // namespace porch
