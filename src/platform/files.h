// File helpers over POSIX. Every failure comes back as a Status naming the
// path and the OS's reason; nothing here throws.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace porch {

Result<std::string> ReadFile(const std::string& path);

// Writes `data` durably: a temp file beside `path`, fsync, rename over
// `path`, fsync of the directory. Readers see the old or the new content,
// never a mix; after a crash the file is whole or absent. With sync_dir
// false the directory is not fsynced: after a machine crash the new name may
// be missing (the old content or no file), never a partial file.
Status WriteFileAtomic(const std::string& path, const std::string& data, bool sync_dir = true);

// Writes all of `data` to `fd` (retrying short writes and EINTR); errors
// name `path`.
Status WriteAll(int fd, std::string_view data, const std::string& path);

// Writes `data` without fsync or rename: for hints that may be lost in a
// crash (a crash of the machine, not of porch).
Status WriteFileFast(const std::string& path, const std::string& data);

// mkdir -p. Existing directories are fine.
Status MakeDirs(const std::string& path);

bool PathExists(const std::string& path);
bool IsDirectory(const std::string& path);

// Names in `dir` (no "." or ".."), sorted.
Result<std::vector<std::string>> ListDir(const std::string& dir);

// fsync of a directory, so a rename or create inside it is durable.
Status SyncDir(const std::string& dir);

// Directory part of a path ("a/b/c" -> "a/b", "c" -> ".").
std::string DirName(const std::string& path);

// Joins with exactly one '/'.
std::string JoinPath(const std::string& a, const std::string& b);

// An absolute version of `path` (relative to the current directory); does
// not resolve symlinks and does not require the path to exist.
std::string AbsolutePath(const std::string& path);

}  // namespace porch
