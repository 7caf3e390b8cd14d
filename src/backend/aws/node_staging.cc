#include "backend/aws/node_staging.h"

#include <cerrno>
#include <cstdio>

#include "platform/files.h"
#include "platform/tree.h"
#include "s3/sync.h"

namespace porch {

namespace {

// Sends the files under `dir` that differ from `seed` (new or changed) to
// <prefix>/<path>.
Status SendChanged(ObjectStore& store, const std::string& dir, const std::string& bucket, const std::string& prefix,
                   const std::map<std::string, FileDigest>& seed) {
  Result<std::map<std::string, FileDigest>> now = DigestTree(dir);
  if (!now.ok()) return now.status();
  for (const FileDigest& f : ChangedFiles(seed, *now)) {
    PORCH_RETURN_IF_ERROR(store.PutFile(bucket, prefix + "/" + f.path, dir + "/" + f.path));
  }
  return Status::Ok();
}

}  // namespace

Result<std::map<std::string, FileDigest>> StageIn(ObjectStore& store, const StagedAttempt& a) {
  PORCH_RETURN_IF_ERROR(MakeDirs(a.node + "/" + a.rel()));
  Result<SyncStats> in = SyncDown(store, a.bucket, a.base + "/input", a.node, {});
  if (!in.ok()) return in.status().Annotate("fetching the run's inputs from s3://" + a.bucket + "/" + a.base + "/input");
  if (!IsDirectory(a.node + "/output")) return std::map<std::string, FileDigest>{};
  return DigestTree(a.node + "/output");
}

Status StageOut(ObjectStore& store, const StagedAttempt& a, const std::map<std::string, FileDigest>& seed) {
  const std::string stage = a.base + "/" + a.rel();
  const std::string where = " to s3://" + a.bucket + "/" + stage;
  if (IsDirectory(a.node + "/output")) {
    PORCH_RETURN_IF_ERROR(SendChanged(store, a.node + "/output", a.bucket, stage + "/output", seed)
                              .Annotate("sending what the attempt changed in output/" + where + "/output"));
  }
  const std::string dir = a.node + "/" + a.rel();
  const std::string result = dir + "/result.json";
  // The attempt's own files, the result aside (it goes last).
  const std::string held = a.node + "/.result.json";
  const bool has_result = PathExists(result);
  if (has_result && std::rename(result.c_str(), held.c_str()) != 0) {
    return Status::FromErrno("moving " + result + " aside", errno);
  }
  SyncOptions own;
  own.exclude = {"workspace", "base", ".git", ".agent-home"};
  PORCH_RETURN_IF_ERROR(
      SyncUp(store, dir, a.bucket, stage, own).status().Annotate("sending the attempt's files" + where));
  if (IsDirectory(dir + "/workspace")) {
    PORCH_RETURN_IF_ERROR(SendChanged(store, dir + "/workspace", a.bucket, stage + "/workspace", seed)
                              .Annotate("sending what the agent changed" + where + "/workspace"));
  }
  if (!has_result) return Status::NotFound("the attempt wrote no result file (" + result + ")");
  const std::string key = a.base + "/results/" + a.task + "/attempt-" + std::to_string(a.attempt) + ".json";
  return store.PutFile(a.bucket, key, held).Annotate("sending the result to s3://" + a.bucket + "/" + key);
}

}  // namespace porch
