// `porch s3 sync`: makes one side like the other, copying only what changed
// (size, then content: the MD5 ETag of single-part objects or porch's
// SHA-256 metadata of multipart ones), optionally deleting what the source
// lacks. Used by porch itself and by job scripts on compute nodes, so a
// node needs only the porch binary, not the AWS CLI.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "s3/object_store.h"

namespace porch {

struct SyncOptions {
  bool delete_extra = false;  // remove what the destination has and the source lacks
  // SyncUp only: files identical to the object of the same relative name
  // under this prefix (of the same bucket) are not uploaded. A node uses it
  // to send back only what its task changed in the snapshot it was given.
  std::string unchanged_from;
  // SyncUp only: directories or files with these names (at any depth) are
  // not uploaded (".git": a repository's objects and hooks stay home).
  std::vector<std::string> exclude;
};

struct SyncStats {
  int copied = 0;
  int unchanged = 0;
  int deleted = 0;
  uint64_t bytes = 0;
};

// Local directory -> s3://bucket/prefix (keys: prefix/relative/path).
Result<SyncStats> SyncUp(ObjectStore& store, const std::string& dir, const std::string& bucket,
                         const std::string& prefix, const SyncOptions& options);
// s3://bucket/prefix -> local directory.
Result<SyncStats> SyncDown(ObjectStore& store, const std::string& bucket, const std::string& prefix,
                           const std::string& dir, const SyncOptions& options);

}  // namespace porch
