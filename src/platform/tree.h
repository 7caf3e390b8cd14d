// Task workspaces. Each AI task attempt works in a directory of its own,
// seeded with the run's merged output so far (which holds its dependencies'
// files). Paths the agent names are confined to the workspace: absolute
// paths, ".." and symlinks that lead outside are refused.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/status.h"

namespace porch {

struct FileDigest {
  std::string path;    // relative, '/'-separated
  std::string sha256;
  uint64_t size = 0;
};

// Relative path -> digest of every regular file under `dir` (".git" and
// ".porch" skipped), sorted.
Result<std::map<std::string, FileDigest>> DigestTree(const std::string& dir);

// Copies every regular file under `from` into `to` (created), keeping the
// relative layout; ".git" is skipped. Returns the digests of what it copied.
Result<std::map<std::string, FileDigest>> SeedWorkspace(const std::string& from, const std::string& to);

// Files in `now` that are new or changed compared with `seed`.
std::vector<FileDigest> ChangedFiles(const std::map<std::string, FileDigest>& seed,
                                     const std::map<std::string, FileDigest>& now);

// The absolute path of `rel` inside `workspace`, or why it is refused.
Result<std::string> ResolveInWorkspace(const std::string& workspace, const std::string& rel);

Status CopyFile(const std::string& from, const std::string& to);

}  // namespace porch
