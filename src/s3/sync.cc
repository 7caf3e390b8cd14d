#include "s3/sync.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <map>

#include "platform/files.h"
#include "core/digest.h"

namespace porch {

namespace {

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Regular files under `dir`, by path relative to it. Links are not followed
// (a link in a workspace must not upload what it points to), and names in
// `exclude` are skipped at any depth.
Status Walk(const std::string& dir, const std::string& rel, std::map<std::string, uint64_t>* out,
            const std::vector<std::string>& exclude = {}) {
  std::string here = rel.empty() ? dir : dir + "/" + rel;
  if (rel.empty() && !PathExists(here)) return Status::Ok();  // nothing to sync yet
  Result<std::vector<std::string>> names = ListDir(here);
  if (!names.ok()) return names.status();
  for (const std::string& n : *names) {
    if (std::find(exclude.begin(), exclude.end(), n) != exclude.end()) continue;
    std::string r = rel.empty() ? n : rel + "/" + n;
    struct stat st;
    if (lstat((dir + "/" + r).c_str(), &st) != 0) continue;
    if (S_ISDIR(st.st_mode)) {
      PORCH_RETURN_IF_ERROR(Walk(dir, r, out, exclude));
    } else if (S_ISREG(st.st_mode) && !EndsWith(n, ".porch-part")) {  // not a download in flight
      (*out)[r] = static_cast<uint64_t>(st.st_size);
    }
  }
  return Status::Ok();
}

std::string Prefix(std::string prefix) {
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  return prefix.empty() ? "" : prefix + "/";
}

// Whether the object already holds the local file's content.
Result<bool> Same(ObjectStore& store, const std::string& bucket, const ObjectInfo& remote,
                  const std::string& path, uint64_t size) {
  if (remote.size != size) return false;
  Result<ContentDigest> d = DigestFile(path);
  if (!d.ok()) return d.status();
  if (!remote.etag.empty() && remote.etag.find('-') == std::string::npos) {
    return remote.etag == d->md5;
  }
  Result<ObjectInfo> head = store.Head(bucket, remote.key);
  if (!head.ok()) return head.status();
  return !head->sha256.empty() && head->sha256 == d->sha256;
}

}  // namespace

Result<SyncStats> SyncUp(ObjectStore& store, const std::string& dir, const std::string& bucket,
                         const std::string& prefix_in, const SyncOptions& options) {
  std::string prefix = Prefix(prefix_in);
  std::map<std::string, uint64_t> local;
  PORCH_RETURN_IF_ERROR(Walk(dir, "", &local, options.exclude));
  Result<std::vector<ObjectInfo>> listed = store.List(bucket, prefix);
  if (!listed.ok()) return listed.status();
  std::map<std::string, ObjectInfo> remote;
  for (ObjectInfo& o : *listed) remote[o.key.substr(prefix.size())] = std::move(o);
  std::map<std::string, ObjectInfo> reference;
  if (!options.unchanged_from.empty()) {
    std::string ref = Prefix(options.unchanged_from);
    Result<std::vector<ObjectInfo>> base = store.List(bucket, ref);
    if (!base.ok()) return base.status();
    for (ObjectInfo& o : *base) reference[o.key.substr(ref.size())] = std::move(o);
  }
  SyncStats stats;
  for (const auto& [rel, size] : local) {
    std::string path = dir + "/" + rel;
    if (auto ref = reference.find(rel); ref != reference.end()) {
      Result<bool> same = Same(store, bucket, ref->second, path, size);
      if (!same.ok()) return same.status();
      if (*same) continue;  // the task did not change it
    }
    auto it = remote.find(rel);
    if (it != remote.end()) {
      Result<bool> same = Same(store, bucket, it->second, path, size);
      if (!same.ok()) return same.status();
      if (*same) {
        ++stats.unchanged;
        continue;
      }
    }
    PORCH_RETURN_IF_ERROR(store.PutFile(bucket, prefix + rel, path));
    ++stats.copied;
    stats.bytes += size;
  }
  if (options.delete_extra) {
    for (const auto& [rel, info] : remote) {
      if (local.count(rel)) continue;
      PORCH_RETURN_IF_ERROR(store.Delete(bucket, info.key));
      ++stats.deleted;
    }
  }
  return stats;
}

Result<SyncStats> SyncDown(ObjectStore& store, const std::string& bucket,
                           const std::string& prefix_in, const std::string& dir,
                           const SyncOptions& options) {
  std::string prefix = Prefix(prefix_in);
  Result<std::vector<ObjectInfo>> listed = store.List(bucket, prefix);
  if (!listed.ok()) return listed.status();
  std::map<std::string, uint64_t> local;
  PORCH_RETURN_IF_ERROR(Walk(dir, "", &local));
  SyncStats stats;
  std::map<std::string, bool> wanted;
  for (const ObjectInfo& o : *listed) {
    std::string rel = o.key.substr(prefix.size());
    if (rel.empty() || rel.back() == '/' || rel.find("..") != std::string::npos) continue;
    wanted[rel] = true;
    std::string path = dir + "/" + rel;
    auto it = local.find(rel);
    if (it != local.end()) {
      Result<bool> same = Same(store, bucket, o, path, it->second);
      if (!same.ok()) return same.status();
      if (*same) {
        ++stats.unchanged;
        continue;
      }
    }
    PORCH_RETURN_IF_ERROR(store.GetFile(bucket, o.key, path));
    ++stats.copied;
    stats.bytes += o.size;
  }
  if (options.delete_extra) {
    for (const auto& [rel, size] : local) {
      if (wanted.count(rel)) continue;
      if (std::remove((dir + "/" + rel).c_str()) != 0) {
        return Status::FromErrno("cannot delete '" + dir + "/" + rel + "'", errno);
      }
      ++stats.deleted;
    }
  }
  return stats;
}

}  // namespace porch
