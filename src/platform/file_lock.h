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
  // Takes the lock on `path`, waiting up to `timeout_s` for another holder
  // to let go (checked every 50 ms): Unavailable after that. The file is
  // created readable and writable by everyone (`shared`), for locks that
  // several users on one host take (engine-wide operations).
  static Result<std::unique_ptr<FileLock>> AcquireWaiting(const std::string& path, double timeout_s,
                                                          bool shared = false);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace porch
