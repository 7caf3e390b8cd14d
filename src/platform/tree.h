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
// ".porch" skipped), sorted. Safe while porch writes into `dir` (a merge
// into output/): its temp files (".<name>.porch-<pid>") are not contents,
// and a file gone between listing and reading is left out.
Result<std::map<std::string, FileDigest>> DigestTree(const std::string& dir);

// Copies every regular file under `from` into `to` (created), keeping the
// relative layout; ".git" is skipped. Returns the digests of what it copied
// (a file removed meanwhile is neither copied nor in them).
Result<std::map<std::string, FileDigest>> SeedWorkspace(const std::string& from, const std::string& to);

// Files in `now` that are new or changed compared with `seed`.
std::vector<FileDigest> ChangedFiles(const std::map<std::string, FileDigest>& seed,
                                     const std::map<std::string, FileDigest>& now);

// The absolute path of `rel` inside `workspace`, or why it is refused.
Result<std::string> ResolveInWorkspace(const std::string& workspace, const std::string& rel);

Status CopyFile(const std::string& from, const std::string& to);

// Reading and writing a file beneath a root directory without ever following
// a symbolic link: every component of `rel` is opened relative to the one
// before (openat with O_NOFOLLOW), so a link anywhere in the path, planted
// by a task or an agent, is refused rather than followed out of the tree.
// `rel` must be relative, without "." or ".." components. These are what
// the output merge uses; they do not protect against a root that is itself
// a link (the caller's own directory).
//
// The file's bytes and permission bits. NotFound when it (or a directory on
// the way) does not exist; InvalidArgument for a link, a bad path, or
// something that is not a regular file.
struct FileBeneath {
  std::string data;
  unsigned mode = 0644;
};
Result<FileBeneath> ReadFileBeneath(const std::string& root, const std::string& rel);
// Removes the regular file `rel` beneath `root` (every component looked at
// without following a link; a link or a directory there is not removed: an
// error). OK when it is already gone.
Status RemoveFileBeneath(const std::string& root, const std::string& rel);

// Whether `rel` exists beneath `root`, every component looked at without
// following a link (a link itself counts as existing, as lstat says).
bool ExistsBeneath(const std::string& root, const std::string& rel);

// Replaces (write to a temporary name, then rename) `rel` beneath `root`,
// creating missing directories. An existing link or directory at `rel`, or
// a link on the way, is refused and nothing is written.
Status WriteFileBeneath(const std::string& root, const std::string& rel, const std::string& data,
                        unsigned mode);

}  // namespace porch
