#include "platform/files.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace porch {

Result<std::string> ReadFile(const std::string& path) { return ReadFileFrom(path, 0); }

Status AppendRecord(int fd, std::string_view record, const std::string& path) {
  ssize_t n;
  do n = write(fd, record.data(), record.size()); while (n < 0 && errno == EINTR);
  if (n < 0) return Status::FromErrno("cannot append to '" + path + "'", errno);
  if (static_cast<size_t>(n) != record.size()) {
    return Status::IoError("cannot append to '" + path + "': short write (is the disk full?)");
  }
  return Status::Ok();
}

Status ReserveAppendRoom(int fd, uint64_t bytes, const std::string& path) {
  struct stat st;
  if (fstat(fd, &st) != 0) return Status::FromErrno("cannot stat '" + path + "'", errno);
  if (fallocate(fd, FALLOC_FL_KEEP_SIZE, st.st_size, static_cast<off_t>(bytes)) == 0) return Status::Ok();
  if (errno == EOPNOTSUPP || errno == ENOSYS) return Status::Ok();
  return Status::FromErrno("cannot keep room in '" + path + "'", errno);
}

Result<std::string> ReadFileFrom(const std::string& path, uint64_t offset) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("cannot open '" + path + "'", errno);
  Result<std::string> out = ReadFrom(fd, offset, path);
  close(fd);
  return out;
}

Result<std::string> ReadFrom(int fd, uint64_t offset, const std::string& path) {
  std::string out;
  char buf[1 << 16];
  while (true) {
    ssize_t n = pread(fd, buf, sizeof buf, static_cast<off_t>(offset + out.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("cannot read '" + path + "'", errno);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> ReadUserFile(const std::string& path, uint64_t max_bytes,
                                 const std::string& what, const std::string& limit_hint) {
  const std::string hint = limit_hint.empty() ? "" : " (" + limit_hint + ")";
  const std::string name = path == "-" ? std::string("standard input") : "'" + path + "'";
  int fd = 0;
  if (path != "-") {
    // O_NONBLOCK: opening a FIFO must not wait for a writer.
    fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return Status::FromErrno("cannot open " + what + " " + name, errno);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      close(fd);
      return Status::InvalidArgument(what + " " + name +
                                     " is not a regular file (give a file, or - for stdin)");
    }
    if (static_cast<uint64_t>(st.st_size) > max_bytes) {
      close(fd);
      return Status::InvalidArgument(what + " " + name + " is " + std::to_string(st.st_size) +
                                     " bytes; the limit is " + std::to_string(max_bytes) + hint);
    }
  }
  std::string out;
  char buf[1 << 16];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int err = errno;
      if (fd != 0) close(fd);
      return Status::FromErrno("cannot read " + what + " " + name, err);
    }
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
    if (out.size() > max_bytes) {
      if (fd != 0) close(fd);
      return Status::InvalidArgument(what + " " + name + " is over the limit of " +
                                     std::to_string(max_bytes) + " bytes" + hint);
    }
  }
  if (fd != 0) close(fd);
  return out;
}

Status StreamFile(const std::string& path, int out_fd, int64_t tail_lines) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("cannot open '" + path + "'", errno);
  constexpr size_t kChunk = 1 << 16;
  off_t from = 0;
  if (tail_lines > 0) {
    off_t end = lseek(fd, 0, SEEK_END);
    off_t pos = end;
    int64_t newlines = 0;
    char buf[kChunk];
    // A final newline ends the last line; it does not start another.
    bool skip_last = false;
    if (end > 0 && pread(fd, buf, 1, end - 1) == 1 && buf[0] == '\n') skip_last = true;
    while (pos > 0 && from == 0) {
      off_t len = std::min<off_t>(pos, kChunk);
      pos -= len;
      ssize_t n = pread(fd, buf, static_cast<size_t>(len), pos);
      if (n <= 0) break;
      for (ssize_t i = n - 1; i >= 0; --i) {
        if (buf[i] != '\n' || (skip_last && pos + i == end - 1)) continue;
        if (++newlines == tail_lines) {
          from = pos + i + 1;
          break;
        }
      }
    }
  }
  char buf[kChunk];
  Status st;
  for (off_t off = from;;) {
    ssize_t n = pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = Status::FromErrno("cannot read '" + path + "'", errno);
      break;
    }
    if (n == 0) break;
    st = WriteAll(out_fd, std::string_view(buf, static_cast<size_t>(n)), "the output");
    if (!st.ok()) break;
    off += n;
  }
  close(fd);
  return st;
}

Status WriteAll(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return Status::FromErrno("cannot write '" + path + "'", errno);
    }
    done += static_cast<size_t>(n);
  }
  return Status::Ok();
}

Status WriteFileAtomic(const std::string& path, const std::string& data, bool sync_dir) {
  return WriteFileAtomicFrom(path, [&data](const AppendFn& append) { return append(data); }, sync_dir);
}

Status WriteFileAtomicFrom(const std::string& path, const std::function<Status(const AppendFn& append)>& produce,
                           bool sync_dir) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("cannot create '" + tmp + "'", errno);
  constexpr size_t kBuffer = 1 << 20;
  std::string buffer;
  Status written;  // the first failed write; later appends do nothing
  const AppendFn append = [&](std::string_view piece) -> Status {
    if (!written.ok()) return written;
    if (buffer.size() + piece.size() < kBuffer) {
      buffer.append(piece);
      return Status::Ok();
    }
    written = WriteAll(fd, buffer, tmp);
    buffer.clear();
    if (written.ok()) written = WriteAll(fd, piece, tmp);
    return written;
  };
  Status st = produce(append);
  if (st.ok()) st = written;
  if (st.ok()) st = WriteAll(fd, buffer, tmp);
  if (st.ok() && fsync(fd) != 0) st = Status::FromErrno("cannot fsync '" + tmp + "'", errno);
  if (close(fd) != 0 && st.ok()) st = Status::FromErrno("cannot close '" + tmp + "'", errno);
  if (st.ok() && rename(tmp.c_str(), path.c_str()) != 0) {
    st = Status::FromErrno("cannot rename '" + tmp + "' to '" + path + "'", errno);
  }
  if (!st.ok()) {
    unlink(tmp.c_str());
    return st;
  }
  return sync_dir ? SyncDir(DirName(path)) : Status::Ok();
}

Result<ReservedFile> ReservedFile::Reserve(const std::string& path, uint64_t bytes) {
  std::string tmp = path + ".reserve";
  int fd = open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("cannot create '" + tmp + "'", errno);
  // posix_fallocate writes zeros itself where the file system cannot allocate.
  int err = posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  if (err != 0) {
    close(fd);
    unlink(tmp.c_str());
    return Status::FromErrno("cannot reserve " + std::to_string(bytes) + " bytes in '" + tmp + "'",
                             err);
  }
  return ReservedFile(path, fd, bytes);
}

ReservedFile::ReservedFile(ReservedFile&& other) noexcept
    : path_(std::move(other.path_)), fd_(other.fd_), bytes_(other.bytes_) {
  other.fd_ = -1;
}

ReservedFile::~ReservedFile() {
  if (fd_ < 0) return;
  close(fd_);
  unlink((path_ + ".reserve").c_str());
}

Status ReservedFile::Commit(std::string_view data) {
  if (fd_ < 0) return Status::Internal("'" + path_ + "' was committed already");
  const std::string tmp = path_ + ".reserve";
  Status st;
  size_t done = 0;
  while (st.ok() && done < data.size()) {
    ssize_t n = pwrite(fd_, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) st = Status::FromErrno("cannot write '" + tmp + "'", errno);
    if (n > 0) done += static_cast<size_t>(n);
  }
  if (st.ok() && ftruncate(fd_, static_cast<off_t>(data.size())) != 0) {
    st = Status::FromErrno("cannot trim '" + tmp + "'", errno);
  }
  if (st.ok() && fsync(fd_) != 0) st = Status::FromErrno("cannot fsync '" + tmp + "'", errno);
  close(fd_);
  fd_ = -1;
  if (st.ok() && rename(tmp.c_str(), path_.c_str()) != 0) {
    st = Status::FromErrno("cannot rename '" + tmp + "' to '" + path_ + "'", errno);
  }
  if (!st.ok()) unlink(tmp.c_str());
  return st;
}

Status WriteFileFast(const std::string& path, const std::string& data) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::FromErrno("cannot create '" + path + "'", errno);
  Status st = WriteAll(fd, data, path);
  close(fd);
  return st;
}

Status MakeDirs(const std::string& path) {
  if (path.empty()) return Status::Ok();
  if (mkdir(path.c_str(), 0755) == 0) return Status::Ok();
  if (errno == EEXIST) {
    if (IsDirectory(path)) return Status::Ok();
    return Status::IoError("'" + path + "' exists and is not a directory");
  }
  if (errno != ENOENT) return Status::FromErrno("cannot create directory '" + path + "'", errno);
  // A parent is missing: create it first, then try again.
  std::string parent = DirName(path);
  if (parent == path || parent == "." || parent == "/") {
    return Status::FromErrno("cannot create directory '" + path + "'", ENOENT);
  }
  PORCH_RETURN_IF_ERROR(MakeDirs(parent));
  if (mkdir(path.c_str(), 0755) != 0 && !(errno == EEXIST && IsDirectory(path))) {
    return Status::FromErrno("cannot create directory '" + path + "'", errno);
  }
  return Status::Ok();
}

bool PathExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> ListDir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return Status::FromErrno("cannot list '" + dir + "'", errno);
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Status::FromErrno("cannot open directory '" + dir + "'", errno);
  Status st;
  if (fsync(fd) != 0 && errno != EINVAL) st = Status::FromErrno("cannot fsync '" + dir + "'", errno);
  close(fd);
  return st;
}

std::string DirName(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string JoinPath(const std::string& a, const std::string& b) {
  if (a.empty()) return b;
  if (b.empty()) return a;
  if (b.front() == '/') return b;
  if (a.back() == '/') return a + b;
  return a + "/" + b;
}

std::string AbsolutePath(const std::string& path) {
  if (!path.empty() && path.front() == '/') return path;
  char buf[PATH_MAX];
  if (!getcwd(buf, sizeof buf)) return path;
  std::string cwd = buf;
  if (path.empty() || path == ".") return cwd;
  std::string rel = path;
  while (rel.rfind("./", 0) == 0) rel = rel.substr(2);
  return JoinPath(cwd, rel);
}

}  // namespace porch
