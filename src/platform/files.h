// File helpers over POSIX. Every failure comes back as a Status naming the
// path and the OS's reason; nothing here throws.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace porch {

Result<std::string> ReadFile(const std::string& path);
// The bytes of `path` from `offset` to its end (a log read as it grows).
Result<std::string> ReadFileFrom(const std::string& path, uint64_t offset);
// What open file `fd` holds from `offset` to its end (pread: the file
// offset does not move); `path` names it in errors.
Result<std::string> ReadFrom(int fd, uint64_t offset, const std::string& path);

// Reads an input a user named: a regular file, or "-" for standard input,
// of at most `max_bytes`. Anything else (a directory, a FIFO, /dev/zero) is
// refused at once, never read (so it cannot hang or exhaust memory);
// `what` names the input in messages ("plan", "config file"), `limit_hint`
// says how to raise the limit ("" when it cannot be).
Result<std::string> ReadUserFile(const std::string& path, uint64_t max_bytes,
                                 const std::string& what, const std::string& limit_hint = "");

// Writes `data` durably: a temp file beside `path`, fsync, rename over
// `path`, fsync of the directory. Readers see the old or the new content,
// never a mix; after a crash the file is whole or absent. With sync_dir
// false the directory is not fsynced: after a machine crash the new name may
// be missing (the old content or no file), never a partial file.
Status WriteFileAtomic(const std::string& path, const std::string& data, bool sync_dir = true);
// WriteFileAtomic for content made in pieces, never held whole: `produce`
// gets an `append` that adds a piece to the temp file (buffered); the file
// replaces `path` only when `produce` and every append succeeded.
using AppendFn = std::function<Status(std::string_view)>;
Status WriteFileAtomicFrom(const std::string& path, const std::function<Status(const AppendFn& append)>& produce,
                           bool sync_dir = true);

// Room on disk, taken early, for a small file written at the end of some
// work: the work's outcome must still be recordable when the disk has
// filled meanwhile. Reserve() allocates `bytes` in `path`.reserve;
// Commit() writes `data` over it, trims it, fsyncs and renames it to `path`
// (no directory fsync), so the file appears whole or not at all. Data longer
// than the reservation may still fail for want of space. Destroying an
// uncommitted reservation removes it. Movable, not copyable; one thread.
class ReservedFile {
 public:
  static Result<ReservedFile> Reserve(const std::string& path, uint64_t bytes);
  ReservedFile(ReservedFile&& other) noexcept;
  ReservedFile& operator=(ReservedFile&& other) = delete;
  ReservedFile(const ReservedFile&) = delete;
  ~ReservedFile();

  Status Commit(std::string_view data);
  uint64_t bytes() const { return bytes_; }

 private:
  ReservedFile(std::string path, int fd, uint64_t bytes)
      : path_(std::move(path)), fd_(fd), bytes_(bytes) {}
  std::string path_;
  int fd_ = -1;
  uint64_t bytes_ = 0;
};

// Appends `record` to `fd` (opened O_APPEND) with one write(2), so records
// that processes append to one file concurrently never interleave. A short
// write is an error (the caller's record is then torn; readers skip it).
Status AppendRecord(int fd, std::string_view record, const std::string& path);
// Keeps `bytes` of disk allocated past the end of `fd`'s file (fallocate,
// FALLOC_FL_KEEP_SIZE), so appends up to that much do not fail for want of
// space. A filesystem that cannot preallocate is not an error.
Status ReserveAppendRoom(int fd, uint64_t bytes, const std::string& path);

// Copies the file at `path` to `out_fd` in 64 KiB pieces (memory stays
// small whatever the size); with `tail_lines` > 0, only its last that many
// lines, found by reading backwards from the end.
Status StreamFile(const std::string& path, int out_fd, int64_t tail_lines = 0);

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
