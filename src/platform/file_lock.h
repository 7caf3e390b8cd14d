// An exclusive lock on a file (flock), held for as long as the object lives:
// one porch process per run directory. The lock file holds the holder's pid,
// for the message another process gets. flock locks end with the process,
// so a killed porch never leaves a run locked.
#pragma once

#include <memory>
#include <string>

#include "core/status.h"

namespace porch {

class FileLock {
 public:
  // Takes the lock on `path` (created if missing) without waiting:
  // Unavailable, naming the holder's pid, when another process holds it.
  static Result<std::unique_ptr<FileLock>> Acquire(const std::string& path);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace porch
