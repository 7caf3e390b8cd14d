// An ObjectStore in memory: buckets of key -> content, every call recorded.
// ETags are the MD5 of the content, as S3 gives for single-part uploads.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "platform/files.h"
#include "core/digest.h"
#include "s3/object_store.h"

namespace porch {

class MemoryObjectStore : public ObjectStore {
 public:
  std::map<std::string, std::map<std::string, std::string>> buckets;
  std::vector<std::string> calls;  // "PUT bucket/key", "GET ...", "LIST bucket/prefix", ...
  bool down = false;               // every call answers Unavailable (S3 unreachable)

  Status CreateBucket(const std::string& bucket) override {
    calls.push_back("MB " + bucket);
    if (down) return Status::Unavailable("S3 is down");
    buckets[bucket];
    return Status::Ok();
  }
  Status PutFile(const std::string& bucket, const std::string& key, const std::string& path) override {
    Result<std::string> data = ReadFile(path);
    if (!data.ok()) return data.status();
    return PutData(bucket, key, *data);
  }
  Status PutData(const std::string& bucket, const std::string& key, const std::string& data) override {
    calls.push_back("PUT " + bucket + "/" + key);
    if (down) return Status::Unavailable("S3 is down");
    auto b = buckets.find(bucket);
    if (b == buckets.end()) return Status::NotFound("bucket '" + bucket + "' does not exist");
    b->second[key] = data;
    return Status::Ok();
  }
  Status GetFile(const std::string& bucket, const std::string& key, const std::string& path) override {
    Result<std::string> data = GetData(bucket, key);
    if (!data.ok()) return data.status();
    PORCH_RETURN_IF_ERROR(MakeDirs(DirName(path)));
    return WriteFileAtomic(path, *data, false);
  }
  Result<std::string> GetData(const std::string& bucket, const std::string& key) override {
    calls.push_back("GET " + bucket + "/" + key);
    if (down) return Status::Unavailable("S3 is down");
    const std::string* data = Find(bucket, key);
    if (!data) return Status::NotFound("no " + bucket + "/" + key);
    return *data;
  }
  Result<ObjectInfo> Head(const std::string& bucket, const std::string& key) override {
    calls.push_back("HEAD " + bucket + "/" + key);
    if (down) return Status::Unavailable("S3 is down");
    const std::string* data = Find(bucket, key);
    if (!data) return Status::NotFound("no " + bucket + "/" + key);
    return Info(key, *data);
  }
  Result<std::vector<ObjectInfo>> List(const std::string& bucket, const std::string& prefix) override {
    calls.push_back("LIST " + bucket + "/" + prefix);
    if (down) return Status::Unavailable("S3 is down");
    auto b = buckets.find(bucket);
    if (b == buckets.end()) return Status::NotFound("bucket '" + bucket + "' does not exist");
    std::vector<ObjectInfo> out;
    for (const auto& [key, data] : b->second) {
      if (key.compare(0, prefix.size(), prefix) == 0) out.push_back(Info(key, data));
    }
    return out;
  }
  Status Delete(const std::string& bucket, const std::string& key) override {
    calls.push_back("DELETE " + bucket + "/" + key);
    if (down) return Status::Unavailable("S3 is down");
    auto b = buckets.find(bucket);
    if (b != buckets.end()) b->second.erase(key);
    return Status::Ok();
  }
  int Count(const std::string& verb) const {
    int n = 0;
    for (const std::string& c : calls) n += c.rfind(verb + " ", 0) == 0;
    return n;
  }

 private:
  const std::string* Find(const std::string& bucket, const std::string& key) const {
    auto b = buckets.find(bucket);
    if (b == buckets.end()) return nullptr;
    auto o = b->second.find(key);
    return o == b->second.end() ? nullptr : &o->second;
  }
  static ObjectInfo Info(const std::string& key, const std::string& data) {
    ObjectInfo info;
    info.key = key;
    info.size = data.size();
    info.etag = HexEncode(Md5Raw(data));
    StreamDigest d;
    d.Update(data);
    info.sha256 = d.Finish().sha256;
    return info;
  }
};

}  // namespace porch
