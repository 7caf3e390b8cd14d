#include "platform/file_lock.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>

#include "platform/clock.h"
#include "platform/files.h"

namespace porch {

namespace {
constexpr useconds_t kPollMicros = 50 * 1000;
}  // namespace

Result<std::unique_ptr<FileLock>> FileLock::Acquire(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("cannot open lock '" + path + "'", errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    std::string holder;
    Result<std::string> text = ReadFile(path);
    if (text.ok()) holder = *text;
    close(fd);
    if (err == EWOULDBLOCK) {
      return Status::Unavailable("the run is in use by another porch process" +
                                 (holder.empty() ? std::string() : " (pid " + holder + ")") +
                                 "; wait for it to finish or stop it first");
    }
    return Status::FromErrno("cannot lock '" + path + "'", err);
  }
  std::string pid = std::to_string(getpid());
  if (ftruncate(fd, 0) == 0) {
    ssize_t ignored = write(fd, pid.data(), pid.size());
    (void)ignored;
  }
  return std::unique_ptr<FileLock>(new FileLock(fd));
}

Result<std::unique_ptr<FileLock>> FileLock::AcquireWaiting(const std::string& path,
                                                           double timeout_s, bool shared) {
  int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, shared ? 0666 : 0644);
  if (fd < 0) return Status::FromErrno("cannot open lock '" + path + "'", errno);
  if (shared) fchmod(fd, 0666);  // the umask narrowed it; others must open it too
  const double give_up = MonotonicSeconds() + timeout_s;
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    if (err != EWOULDBLOCK || MonotonicSeconds() >= give_up) {
      close(fd);
      if (err == EWOULDBLOCK) {
        return Status::Unavailable("lock '" + path + "' is still held after " +
                                   std::to_string(static_cast<int>(timeout_s)) + "s");
      }
      return Status::FromErrno("cannot lock '" + path + "'", err);
    }
    usleep(kPollMicros);
  }
  return std::unique_ptr<FileLock>(new FileLock(fd));
}

FileLock::~FileLock() { close(fd_); }

}  // namespace porch
